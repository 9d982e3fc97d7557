"""The version of signoff, read in one place: the installed distribution's metadata.

pyproject.toml is the only place the number is written; the service's OpenAPI document,
``/healthz``, the reviewer pages' asset URLs and ``signoff --version`` all read it here.
A source tree that was never installed (``PYTHONPATH=src``) has no metadata, so the
number is read from its pyproject.toml instead.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

UNKNOWN = "0+unknown"


def _from_source_tree() -> str:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return UNKNOWN
    found = re.search(r'^version\s*=\s*"([^"]+)"', text, re.MULTILINE)
    return found.group(1) if found else UNKNOWN


def _read() -> str:
    try:
        return version("signoff")
    except PackageNotFoundError:
        return _from_source_tree()


__version__ = _read()

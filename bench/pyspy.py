"""py-spy recordings of ``signoff serve`` and what the report shows of them."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench import common

OURS = ("signoff/", "sqlalchemy/", "pydantic", "aiosqlite", "json")
"""Frames worth listing by inclusive time (the rest is the web stack and the loop)."""


def record(pid: int, seconds: float, rate: int, raw: Path) -> subprocess.Popen[bytes] | None:
    """Start recording ``pid`` into ``raw`` (py-spy's raw format); ``None`` without py-spy."""
    spy = shutil.which("py-spy") or str(Path(common.PY).parent / "py-spy")
    if not Path(spy).exists():
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def finish(rec: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if rec is None:
        return
    try:
        rec.wait(timeout)
    except subprocess.TimeoutExpired:
        rec.kill()


def aggregate(raw: Path) -> dict[str, Any] | None:
    """Samples, busy samples, top functions by own time and our frames by inclusive time."""
    if not raw.exists():
        return None
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for name in {short(frame) for frame in frames}:
            inclusive[name] += n
        own[short(frames[-1])] += n
    return {
        "samples": total,
        "busy_samples": total - sum(v for k, v in own.items() if idle(k)),
        "top_self": [(k, v) for k, v in own.most_common(40) if not idle(k)][:15],
        "top_inclusive": [
            (k, v) for k, v in inclusive.most_common(300) if any(s in k for s in OURS)
        ][:20],
    }


def short(frame: str) -> str:
    """py-spy's ``function (path/to/file.py:123)`` as ``function (package/file.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{name} ({path})"


def idle(name: str) -> bool:
    return any(s in name for s in ("select (", "poll (", "_run_once", "epoll", "wait (threading"))

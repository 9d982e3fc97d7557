"""Reading a spec file (YAML, or JSON which YAML reads too) so that every problem names
its file, line and field: ``refunds.yaml:14: policies.2.when: ...``.

Shared by the subscription spec and the policy file, which differ in shape only.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError


class SpecError(ValueError):
    """A spec that cannot be used; ``str()`` names the file, the line and the field."""


def parse(text: str, source: str, what: str) -> tuple[yaml.Node | None, dict[str, Any]]:
    """The document's node tree (for line numbers) and its data, a mapping."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{source}{line}: not valid YAML or JSON: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(f"{source}:1: the spec must be a mapping with {what}")
    return node, data


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node the error location reaches."""
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line


def problem(source: str, node: yaml.Node | None, loc: tuple[Any, ...], message: str) -> str:
    line = line_of(node, loc)
    where = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
    return f"{source}{f':{line}' if line else ''}: {where}: {message}"


def problems(source: str, node: yaml.Node | None, exc: ValidationError, most: int = 10) -> str:
    """Each validation error on a line of its own, as ``file:line: field: message``."""
    return "\n".join(
        problem(source, node, tuple(e["loc"]), str(e["msg"]).removeprefix("Value error, "))
        for e in exc.errors()[:most]
    )

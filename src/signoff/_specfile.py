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


def duplicate_keys(source: str, node: yaml.Node | None, most: int = 10) -> list[str]:
    """Keys a mapping gives twice, as ``file:line: field: ...``: YAML keeps only the last
    (a second group of the same name would silently replace the first)."""
    found: list[tuple[int, str]] = []
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[Any, ...]]] = [(node, ())] if node is not None else []
    while stack:
        current, loc = stack.pop()
        if id(current) in seen_nodes:  # an alias is the anchored node again
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: set[str] = set()
            for key_node, value in current.value:
                key = str(key_node.value)
                if key in keys and key != "<<":
                    line = key_node.start_mark.line + 1
                    where = ".".join(str(p) for p in (*loc, key))
                    found.append((line, f"{source}:{line}: {where}: given twice in one mapping"))
                keys.add(key)
                stack.append((value, (*loc, key)))
        elif isinstance(current, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in enumerate(current.value))
    return [text for _, text in sorted(found)[:most]]


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


def loc_of(node: yaml.Node | None, field: str) -> tuple[str | int, ...]:
    """A dotted field path as a service names it (``policies.1.when``) as a location in the
    document: list indexes as numbers, and a mapping key that holds dots (a group named
    ``fin.ops``) kept whole when the node tree has such a key."""
    parts = [part for part in field.split(".") if part] if field else []
    loc: list[str | int] = []
    i = 0
    while i < len(parts):
        if isinstance(node, yaml.MappingNode):
            keys = {str(k.value): v for k, v in node.value}
            for j in range(len(parts), i, -1):  # the longest key that is there
                key = ".".join(parts[i:j])
                if key in keys:
                    loc.append(key)
                    node, i = keys[key], j
                    break
            else:
                loc.append(parts[i])
                node, i = None, i + 1
        elif isinstance(node, yaml.SequenceNode) and parts[i].isdigit():
            index = int(parts[i])
            loc.append(index)
            node = node.value[index] if index < len(node.value) else None
            i += 1
        else:
            loc.append(int(parts[i]) if parts[i].isdigit() else parts[i])
            node, i = None, i + 1
    return tuple(loc)


def problem(source: str, node: yaml.Node | None, loc: tuple[Any, ...], message: str) -> str:
    line = line_of(node, loc)
    where = ".".join(str(p) for p in loc if not str(p).startswith("function-"))
    return f"{source}{f':{line}' if line else ''}: {f'{where}: ' if where else ''}{message}"


def problems(source: str, node: yaml.Node | None, exc: ValidationError, most: int = 10) -> str:
    """Each validation error on a line of its own, as ``file:line: field: message``."""
    return "\n".join(
        problem(source, node, tuple(e["loc"]), str(e["msg"]).removeprefix("Value error, "))
        for e in exc.errors()[:most]
    )

"""What a reviewer changed: a path-by-path diff of two JSON values.

The same rules as ``static/review.js`` uses for the live diff in the editor, so the
history shows exactly what the reviewer saw before approving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Change:
    path: str
    kind: ChangeKind
    before: Any = None
    after: Any = None

    @property
    def before_text(self) -> str:
        return json.dumps(self.before, ensure_ascii=False)

    @property
    def after_text(self) -> str:
        return json.dumps(self.after, ensure_ascii=False)


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON sees it: 120 and 120.0 are one number, but 1 is not ``true``."""
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers):
        if isinstance(a, bool) or isinstance(b, bool):
            return type(a) is type(b) and a == b
        return a == b
    return type(a) is type(b) and a == b


def diff(before: Any, after: Any, path: str = "") -> list[Change]:
    """Changes from ``before`` to ``after``; objects and lists are compared member by member."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[Change] = []
        for key in before:
            if key not in after:
                changes.append(Change(_child(path, key), "removed", before=before[key]))
            else:
                changes.extend(diff(before[key], after[key], _child(path, key)))
        for key in after:
            if key not in before:
                changes.append(Change(_child(path, key), "added", after=after[key]))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for index in range(max(len(before), len(after))):
            if index >= len(after):
                changes.append(Change(_child(path, index), "removed", before=before[index]))
            elif index >= len(before):
                changes.append(Change(_child(path, index), "added", after=after[index]))
            else:
                changes.extend(diff(before[index], after[index], _child(path, index)))
        return changes
    if not _same(before, after):
        return [Change(path or "(whole)", "changed", before=before, after=after)]
    return []

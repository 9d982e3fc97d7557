"""What every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_utc(value: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a `Z`, the shape the hosted service uses."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return (
        f"{value.year:04d}-"
        + value.strftime("%m-%dT%H:%M:%S.")
        + f"{value.microsecond // 1000:03d}Z"
    )


UtcDateTime = Annotated[datetime, PlainSerializer(format_utc, return_type=str)]
"""A timestamp that always goes on the wire as `2025-03-18T14:32:00.000Z`."""

MAX_JSON_DEPTH = 32
MAX_JSON_BYTES = 256 * 1024


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored and sent on as it is, or ``None``.

    PostgreSQL text cannot hold NUL, and a lone surrogate (``"\\ud800"`` is a valid JSON
    escape) is not Unicode: UTF-8 cannot encode it, so every later read would fail.
    """
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "contains a lone surrogate (not valid Unicode)"
    return None


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a JSON value cannot be stored, or ``None``: walked with a stack, not recursion,
    so a value nested thousands of levels deep is refused instead of crashing the walk."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= max_depth:
                return f"nested deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    if isinstance(key, str) and (problem := text_problem(key)):
                        return f"a key {problem}"
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, str):
            if problem := text_problem(item):
                return f"a string {problem}"
        elif isinstance(item, float) and not math.isfinite(item):
            return "numbers must be finite (no NaN or Infinity)"
    return None


def json_depth(value: Any) -> int:
    """Levels of nesting (``{}`` is 1), counted without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in item)
    return deepest


def check_json_object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Details are the reviewer's to read: bounded in nesting and size."""
    if value is None:
        return value
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if len(json.dumps(value, separators=(",", ":"), default=str)) > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES // 1024} KiB")
    return value


def check_storable(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a request sends must be storable as given; what a read returns is not held
    to it, so a server that sends a NUL never breaks a client's read."""
    if value is not None and (problem := json_problem(value)):
        raise ValueError(problem)
    return check_json_object(value)


def check_text(value: str | None) -> str | None:
    """For plain string fields: storable as given (no NUL, no lone surrogate)."""
    if value is not None and (problem := text_problem(value)):
        raise ValueError(problem)
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_object)]
"""A JSON object as read: bounded in depth and size."""
JsonInput = Annotated[dict[str, Any], AfterValidator(check_storable)]
"""A JSON object as sent in a request: also no NUL, no lone surrogate, finite numbers."""


class WireModel(BaseModel):
    """Base of the camelCase models (approvals API).

    Unknown fields are ignored so that a newer server never breaks an older client.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_enum_values=False,
    )

    def to_wire(self, *, exclude_none: bool = False) -> dict[str, Any]:
        """The JSON-ready dict with wire (camelCase) names."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)


class ErrorBody(BaseModel):
    """Every non-2xx answer carries `{"error": "..."}`."""

    error: str

"""What every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

import json
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


def json_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


def check_json_object(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Details are the reviewer's to read: bounded in nesting and size."""
    if value is None:
        return value
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if len(json.dumps(value, separators=(",", ":"), default=str)) > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES // 1024} KiB")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(check_json_object)]


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

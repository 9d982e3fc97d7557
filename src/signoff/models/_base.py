"""What every wire model shares: camelCase on the wire, snake_case in Python."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainSerializer
from pydantic.alias_generators import to_camel


def format_utc(value: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a `Z`, the shape the hosted service uses."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


UtcDateTime = Annotated[datetime, PlainSerializer(format_utc, return_type=str)]
"""A timestamp that always goes on the wire as `2025-03-18T14:32:00.000Z`."""

JsonObject = dict[str, Any]


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

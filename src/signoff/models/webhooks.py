"""Wire models of the webhook management API (seed 002, the "previous" platform)."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from signoff.models.events import Links, SnakeModel, unknown_event_types

MAX_HEADERS = 20
MAX_EVENT_TYPES = 100


MAX_HEADER_VALUE = 4096

RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "transfer-encoding", "connection"}
    | {"cko-signature", "x-signoff-signature", "x-signoff-delivery", "x-signoff-attempt"}
)
"""Headers signoff sets on every delivery itself; a configured one may not replace them.
(``X-Signoff-Managed``, the subscription spec's marker, is the one ``X-Signoff-`` name a
configuration carries.)"""

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""RFC 9110's field-name token."""
_FIELD_VALUE = re.compile(r"[\x20-\x7e\t]*")
"""What every HTTP client can send: visible ASCII, spaces and tabs."""


def check_url(value: str | None) -> str | None:
    if value is None:
        return value
    problem = "must be an http:// or https:// URL of at most 2000 characters"
    if not value.startswith(("http://", "https://")) or len(value) > 2000:
        raise ValueError(problem)
    if not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError(problem + ", without spaces or control characters (percent-encode)")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is no number or out of range
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if not parts.hostname:
        raise ValueError("must name a host")
    return value


def check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    """Only headers that can be sent, and none of the ones signoff sets itself: a header
    that cannot be encoded would fail every delivery attempt forever."""
    if value is not None and len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name, header in (value or {}).items():
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"not a valid header name: {name!r}")
        lowered = name.lower()
        if lowered in RESERVED_HEADERS or (
            lowered.startswith("x-signoff-") and lowered != "x-signoff-managed"
        ):
            raise ValueError(f"header {name!r} is set by signoff itself and cannot be configured")
        if len(header) > MAX_HEADER_VALUE or not _FIELD_VALUE.fullmatch(header):
            raise ValueError(
                f"header {name!r}: the value must be printable ASCII of at most "
                f"{MAX_HEADER_VALUE} characters"
            )
    return value


def check_event_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return value
    if not value:
        raise ValueError("must list at least one event type")
    unknown = unknown_event_types(value)
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r} (see GET /workflows/event-types)")
    return list(dict.fromkeys(value))


class Health(SnakeModel):
    """Why deliveries to this endpoint fail, when they do (signoff extension)."""

    status: Literal["healthy", "failing", "deactivated"]
    consecutive_failures: int = 0
    failing_since: str | None = None
    last_error: str | None = None


class WebhookRequest(SnakeModel):
    """Body of ``POST`` and ``PUT /webhooks[/{id}]``."""

    url: str
    active: bool = True
    headers: dict[str, str] = Field(default_factory=dict)
    content_type: Literal["json"] = "json"
    event_types: list[str] = Field(max_length=MAX_EVENT_TYPES)

    _url = field_validator("url")(check_url)
    _events = field_validator("event_types")(check_event_types)
    _headers = field_validator("headers")(check_headers)


class WebhookPatch(SnakeModel):
    """Body of ``PATCH /webhooks/{id}``: only what is given changes."""

    url: str | None = None
    active: bool | None = None
    headers: dict[str, str] | None = None
    content_type: Literal["json"] | None = None
    event_types: list[str] | None = Field(default=None, max_length=MAX_EVENT_TYPES)

    _url = field_validator("url")(check_url)
    _events = field_validator("event_types")(check_event_types)
    _headers = field_validator("headers")(check_headers)


class Webhook(SnakeModel):
    id: str
    url: str
    active: bool
    headers: dict[str, str] = Field(default_factory=dict)
    content_type: str = "json"
    event_types: list[str]
    health: Health | None = None
    links: Links | None = Field(default=None, alias="_links")

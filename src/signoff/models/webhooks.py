"""Wire models of the webhook management API (seed 002, the "previous" platform)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from signoff.models.events import Links, SnakeModel, unknown_event_types

MAX_HEADERS = 20
MAX_EVENT_TYPES = 100


def check_url(value: str | None) -> str | None:
    if value is None:
        return value
    if not value.startswith(("http://", "https://")) or len(value) > 2000 or " " in value:
        raise ValueError("must be an http:// or https:// URL of at most 2000 characters")
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


def check_headers(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is not None and len(value) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    for name, header in (value or {}).items():
        if not name or any(c in name for c in " :\r\n") or any(c in header for c in "\r\n"):
            raise ValueError(f"not a valid header: {name!r}")
    return value


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

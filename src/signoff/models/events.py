"""Events: the catalogue of event types, and the envelope every delivery carries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from signoff.models._base import JsonInput, JsonObject, UtcDateTime

EVENT_CATALOG: dict[str, dict[str, list[str]]] = {
    "gateway": {
        "events": [
            "card_verification_declined", "card_verified", "payment_approved",
            "payment_authorization_increment_declined", "payment_authorization_incremented",
            "payment_canceled", "payment_capture_declined", "payment_capture_pending",
            "payment_captured", "payment_chargeback", "payment_declined", "payment_expired",
            "payment_flagged", "payment_paid", "payment_pending", "payment_refund_declined",
            "payment_refund_pending", "payment_refunded", "payment_retrieval",
            "payment_void_declined", "payment_voided",
        ],
    },
    "dispute": {
        "events": [
            "dispute_canceled", "dispute_evidence_required", "dispute_expired", "dispute_lost",
            "dispute_resolved", "dispute_won",
        ],
    },
    "approvals": {
        "events": [
            "approval_requested", "approval_approved", "approval_rejected", "approval_expired",
            "approval_cancelled", "approval_step_approved", "approval_sla_breached",
        ],
    },
}  # fmt: skip
"""Event types by source: the seeds' payment and dispute events, and signoff's approvals."""

EVENT_TYPES: frozenset[str] = frozenset(
    name for group in EVENT_CATALOG.values() for name in group["events"]
)


def unknown_event_types(names: list[str]) -> list[str]:
    return [name for name in names if name not in EVENT_TYPES]


class SnakeModel(BaseModel):
    """Base of the snake_case models of the webhook management API (``_links`` aside)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    def to_wire(self, *, exclude_none: bool = True) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)


class Link(SnakeModel):
    href: str


class Links(SnakeModel):
    self: Link


class Event(SnakeModel):
    """The envelope POSTed to every subscriber: receivers de-duplicate on ``id``."""

    id: str
    type: str
    created_on: UtcDateTime
    data: JsonObject = Field(default_factory=dict)


class PublishEvent(SnakeModel):
    """Body of the emulator's ``POST /events``: publish any catalogued event (local only)."""

    type: str = Field(min_length=1, max_length=100)
    data: JsonInput = Field(default_factory=dict)
    subject_id: str | None = Field(default=None, max_length=100)
    entity_id: str | None = Field(default=None, max_length=100)
    processing_channel_id: str | None = Field(default=None, max_length=100)

    @field_validator("data")
    @classmethod
    def _subject_in_data(cls, value: dict[str, Any]) -> dict[str, Any]:
        """``data.id`` names the event's subject (a payment id): a short string or absent."""
        subject = value.get("id")
        if subject is not None and (not isinstance(subject, str) or not 0 < len(subject) <= 100):
            raise ValueError("id: must be a string of 1 to 100 characters")
        return value

    @property
    def subject(self) -> str | None:
        """Which subject the event is about: ``subject_id``, else ``data.id``."""
        return self.subject_id or self.data.get("id")


class PublishedEvent(SnakeModel):
    id: str
    type: str
    created_on: UtcDateTime
    deliveries: int
    """How many subscribers (webhooks and workflow actions) it was queued for."""


class EventTypesRequest(SnakeModel):
    """Body of the webhook and workflow ``/test`` endpoints."""

    event_types: list[str] = Field(min_length=1, max_length=100)


class DeliveryAttemptOut(SnakeModel):
    attempted_on: UtcDateTime
    status_code: int | None = None
    duration_ms: int
    response_excerpt: str | None = None
    error: str | None = None


class Delivery(SnakeModel):
    """One event sent to one URL, with every attempt made."""

    id: str
    event_id: str
    event_type: str | None = None
    kind: str
    target_id: str | None = None
    workflow_id: str | None = None
    url: str
    state: str
    attempt_count: int
    next_attempt_on: UtcDateTime | None = None
    created_on: UtcDateTime
    attempts: list[DeliveryAttemptOut] = Field(default_factory=list)

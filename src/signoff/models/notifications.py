"""Notifications as the API and the review page show them (signoff's own)."""

from __future__ import annotations

from pydantic import Field

from signoff.models._base import UtcDateTime, WireModel
from signoff.models.approvals import DeliveryAttempt


class Notification(WireModel):
    """One message to one target: an email, a chat/push message, a Slack app post.

    ``to`` is shown without secrets (a chat URL's tokens masked); the message itself is
    not shown: it carries the recipient's signed decision links.
    """

    id: str
    kind: str
    """``email``, ``chat`` (Apprise) or ``slack`` (signoff's Slack app)."""
    to: str
    reviewer: str | None = None
    group: str | None = None
    reason: str
    """``requested``, ``step``, ``escalated``, ``reminder`` or ``decided``."""
    state: str
    attempt_count: int
    next_attempt_at: UtcDateTime | None = None
    created_at: UtcDateTime
    attempts: list[DeliveryAttempt] = Field(default_factory=list)


class NotificationList(WireModel):
    data: list[Notification]

"""The words of the outbox: what a delivery is, and where it stands."""

from __future__ import annotations

from enum import Enum


class DeliveryKind(str, Enum):
    CALLBACK = "callback"
    """An approval's decision, POSTed to the ``webhookUrl`` its asker gave (seed 000)."""
    WEBHOOK = "webhook"
    """An event, to a webhook subscribed to its type (seed 002)."""
    WORKFLOW = "workflow"
    """An event, to an action of a workflow whose conditions hold (seed 001)."""
    EMAIL = "email"
    """A notification to a reviewer or group, by SMTP (``mailto:`` URL)."""
    CHAT = "chat"
    """A notification to a chat or push target Apprise speaks (Slack, Teams, ntfy, ...)."""
    SLACK = "slack"
    """A notification with Approve / Reject buttons, posted by signoff's Slack app."""


class DeliveryState(str, Enum):
    PENDING = "pending"
    """Waiting for its first or next attempt (``next_attempt_at``)."""
    DELIVERED = "delivered"
    FAILED = "failed"
    """Given up: out of attempts, refused by the guard, or the receiver answered 410."""


REPLAYABLE = frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED})
"""A pending delivery is still being tried: replaying it would send it twice."""


NOTIFICATION_KINDS = frozenset({DeliveryKind.EMAIL, DeliveryKind.CHAT, DeliveryKind.SLACK})
"""Deliveries that tell people rather than call machines (the review page lists them)."""

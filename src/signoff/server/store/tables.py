"""The tables. Changes to them go through a new Alembic revision in ``migrations/``."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out, whatever the database keeps (SQLite keeps none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class StoredJSON(TypeDecorator[Any]):
    """JSON that always reads back as something a response can encode.

    Input is checked before it is stored (``signoff.server.inputs``), but a row written by
    an older version may hold a lone surrogate, which would fail every read that encodes
    it; on the way out such strings get U+FFFD instead, so no stored row breaks a read.
    """

    impl = JSON
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return readable(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _readable_text(text: str) -> str:
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


def readable(value: Any) -> Any:
    """``value`` with every string made encodable; the same object when nothing was wrong."""
    if isinstance(value, str):
        return _readable_text(value)
    if not isinstance(value, dict | list) or not _needs_repair(value):
        return value
    if isinstance(value, list):
        return [readable(item) for item in value]
    return {_readable_text(key): readable(item) for key, item in value.items()}


def _needs_repair(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _readable_text(item) != item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


metadata = MetaData()

approvals = Table(
    "approvals",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("action", String(200), nullable=False),
    Column("summary", Text, nullable=False),
    Column("details", StoredJSON, nullable=False),
    Column("risk_level", String(16), nullable=False),
    Column("risk_score", Float),
    Column("justification", Text),
    Column("callback_url", Text),
    Column("source", StoredJSON),
    Column("trace", StoredJSON),
    Column("modified_details", StoredJSON),
    Column("decision_note", Text),
    Column("decision_reason", String(32)),
    Column("decided_at", UTCDateTime),
    Column("decided_by", String(200)),
    Column("retryable", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("created_by", String(200)),
    Column("idempotency_key", String(300), unique=True),
    Column("request_hash", String(64)),
    # who decides (0005); NULL on older rows: one step open to any reviewer
    Column("steps", StoredJSON),  # [{"reviewers", "groups", "requiredApprovals"}]
    Column("current_step", Integer),  # 0-based index of the open step
    Column("edit_round", Integer),  # +1 on each edit (or other choice): the count restarts
    Column("recorded", StoredJSON),  # every approve so far, as RecordedApproval dicts
    Column("requested_by", String(200)),
    Column("options", StoredJSON),
    Column("multiple", Boolean),
    Column("reason_codes", StoredJSON),
    Column("details_schema", StoredJSON),
    Column("chosen_options", StoredJSON),
    Column("reason_code", String(200)),
    # policies (0006): which applied version and rule routed or decided it
    Column("policy_version", Integer),
    Column("policy_rule", String(100)),
    Column("auto_decided", Boolean),
    Column("on_expiry", String(16)),  # reject (NULL) | approve
    Column("sla_due_at", UTCDateTime),
    Column("sla_breached_at", UTCDateTime),
    Column("escalated_groups", StoredJSON),  # who may also decide once the SLA is breached
    # notifications (0007): when the reviewers still waited for are reminded next
    Column("remind_at", UTCDateTime),
    Index("ix_approvals_status_created", "status", "created_at"),
    Index("ix_approvals_status_sla", "status", "sla_due_at"),
    Index("ix_approvals_status_remind", "status", "remind_at"),
    Index("ix_approvals_status_expires", "status", "expires_at"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),  # callback | webhook | workflow
    Column("subject_id", String(40), nullable=False, index=True),  # approval or event id
    Column("target_id", String(40), index=True),  # webhook or workflow action id
    Column("workflow_id", String(40)),
    Column("url", Text, nullable=False),
    Column("payload", Text, nullable=False),  # the exact bytes that are signed and sent
    Column("headers", StoredJSON),  # configured ones; signoff's own are added at send time
    Column("signature_key", Text),  # a workflow action's HMAC key: Cko-Signature at send time
    Column("state", String(16), nullable=False),  # pending | delivered | failed
    Column("attempt_count", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
    Column("duration_ms", Integer, nullable=False),
    Column("response_excerpt", Text),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),  # "api" | "reviewer"
    Column("name", String(200), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

secrets = Table(
    "secrets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("url", Text, nullable=False, unique=True),
    Column("active", Boolean, nullable=False),
    Column("headers", StoredJSON, nullable=False),
    Column("content_type", String(20), nullable=False),
    Column("event_types", StoredJSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

workflows = Table(
    "workflows",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("conditions", StoredJSON, nullable=False),  # each with its own wfc_ id
    Column("actions", StoredJSON, nullable=False),  # each with its own wfa_ id
    Column("created_at", UTCDateTime, nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(100), nullable=False),
    Column("source", String(20), nullable=False),  # api | test | approvals
    Column("data", StoredJSON, nullable=False),
    Column("subject_id", String(100), index=True),
    Column("entity_id", String(100)),
    Column("processing_channel_id", String(100)),
    Column("created_at", UTCDateTime, nullable=False),
)

endpoint_health = Table(
    "endpoint_health",
    metadata,
    Column("target_id", String(40), primary_key=True),  # webhook or workflow action id
    Column("consecutive_failures", Integer, nullable=False),
    Column("failing_since", UTCDateTime),
    Column("last_error", Text),
    Column("deactivated_at", UTCDateTime),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(400), primary_key=True),  # principal + method + path + key
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", StoredJSON),
    Column("created_at", UTCDateTime, nullable=False),
)


policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("document", StoredJSON, nullable=False),  # the policy file, canonical JSON
    Column("digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(200)),
)

reviewers = Table(
    "reviewers",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("email", String(320)),
    Column("groups", StoredJSON, nullable=False),  # list of group names
    Column("notify", StoredJSON),  # chat/push URLs (0007); the email is told too
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(40), primary_key=True),  # what the signed cookie carries
    Column("reviewer", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False, index=True),
    Column("revoked_at", UTCDateTime),
)

decision_links = Table(
    "decision_links",
    metadata,
    Column("nonce", String(40), primary_key=True),  # what the signed link carries
    Column("approval_id", String(40), nullable=False, index=True),
    Column("reviewer", String(200), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("used_at", UTCDateTime, nullable=False),
)

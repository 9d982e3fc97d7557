"""Webhooks, workflows, events, endpoint health, idempotency keys.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from signoff.server.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("target_id", sa.String(40)))
        batch.add_column(sa.Column("workflow_id", sa.String(40)))
    op.create_index("ix_deliveries_target_id", "deliveries", ["target_id"])
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.add_column(sa.Column("response_excerpt", sa.Text))
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("url", sa.Text, nullable=False, unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("headers", sa.JSON, nullable=False),
        sa.Column("content_type", sa.String(20), nullable=False),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("conditions", sa.JSON, nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("subject_id", sa.String(100)),
        sa.Column("entity_id", sa.String(100)),
        sa.Column("processing_channel_id", sa.String(100)),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_events_subject_id", "events", ["subject_id"])
    op.create_table(
        "endpoint_health",
        sa.Column("target_id", sa.String(40), primary_key=True),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("failing_since", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("deactivated_at", UTCDateTime),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(400), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("body", sa.JSON),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("idempotency_keys", "endpoint_health", "events", "workflows", "webhooks"):
        op.drop_table(table)
    op.drop_index("ix_deliveries_target_id", "deliveries")
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.drop_column("response_excerpt")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("workflow_id")
        batch.drop_column("target_id")

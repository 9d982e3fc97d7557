"""Policies as code: every applied version of the policy file, and on each approval the
version and rule that routed or decided it, its SLA and who it escalated to.

Revision ID: 0006
Revises: 0005
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from signoff.server.store.tables import StoredJSON, UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NEW_COLUMNS: list[tuple[str, Any]] = [
    ("policy_version", sa.Integer),
    ("policy_rule", sa.String(100)),
    ("auto_decided", sa.Boolean),
    ("on_expiry", sa.String(16)),
    ("sla_due_at", UTCDateTime),
    ("sla_breached_at", UTCDateTime),
    ("escalated_groups", StoredJSON),
]


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        for name, kind in NEW_COLUMNS:
            batch.add_column(sa.Column(name, kind))
    op.create_index("ix_approvals_status_sla", "approvals", ["status", "sla_due_at"])
    op.create_table(
        "policy_versions",
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("document", StoredJSON, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("policy_versions")
    op.drop_index("ix_approvals_status_sla", "approvals")
    with op.batch_alter_table("approvals") as batch:
        for name, _ in reversed(NEW_COLUMNS):
            batch.drop_column(name)

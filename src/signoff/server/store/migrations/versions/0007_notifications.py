"""Notifications: where to tell each reviewer, when to remind an approval's reviewers
next, and the signed decision links that were used (each works once).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from signoff.server.store.tables import StoredJSON, UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reviewers") as batch:
        batch.add_column(sa.Column("notify", StoredJSON))
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("remind_at", UTCDateTime))
    op.create_index("ix_approvals_status_remind", "approvals", ["status", "remind_at"])
    op.create_table(
        "decision_links",
        sa.Column("nonce", sa.String(40), primary_key=True),
        sa.Column("approval_id", sa.String(40), nullable=False, index=True),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("decision_links")
    op.drop_index("ix_approvals_status_remind", "approvals")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("remind_at")
    with op.batch_alter_table("reviewers") as batch:
        batch.drop_column("notify")

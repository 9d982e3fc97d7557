"""Who decides: reviewers as records (email, groups, active), and on each approval its
chain of steps, the approvals recorded so far, options, reason codes and details schema.

Older approvals keep NULL in the new columns and read as before: one step that any
reviewer may decide.

Revision ID: 0005
Revises: 0004
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

from signoff.server.store.tables import StoredJSON, UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NEW_COLUMNS: list[tuple[str, Any]] = [
    ("steps", StoredJSON),
    ("current_step", sa.Integer),
    ("edit_round", sa.Integer),
    ("recorded", StoredJSON),
    ("requested_by", sa.String(200)),
    ("options", StoredJSON),
    ("multiple", sa.Boolean),
    ("reason_codes", StoredJSON),
    ("details_schema", StoredJSON),
    ("chosen_options", StoredJSON),
    ("reason_code", sa.String(200)),
]


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        for name, kind in NEW_COLUMNS:
            batch.add_column(sa.Column(name, kind))
    op.create_table(
        "reviewers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("email", sa.String(320)),
        sa.Column("groups", StoredJSON, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reviewers")
    with op.batch_alter_table("approvals") as batch:
        for name, _ in reversed(NEW_COLUMNS):
            batch.drop_column(name)

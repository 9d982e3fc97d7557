"""Deliveries keep their action's signature key: signing happens at send time, in the
delivery package, for callbacks and workflow actions alike.

Rows queued before this revision carry their ``Cko-Signature`` in ``headers`` and are
still sent with it.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("signature_key", sa.Text))


def downgrade() -> None:
    op.drop_column("deliveries", "signature_key")

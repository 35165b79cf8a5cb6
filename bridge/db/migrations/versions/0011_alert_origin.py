"""Store with each alert how bridge learned of it (`origin`: "" for a webhook, "reconciliation"
for a problem reconciliation found), so that an alert held by `for:` or a threshold, and attached
to its incident later by a timer, still says "found by reconciliation" in the timeline.
Every alert stored before this came from a webhook as far as anyone can tell now: "".

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: no table copy on SQLite, no rewrite on PostgreSQL.
    op.add_column("alerts", sa.Column("origin", sa.String(20), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("origin")

"""Record how many alerts of a delivery are decided already, so that a large one (a 10,000-alert
Alertmanager group) is decided in slices, each its own short transaction, instead of holding the
write lock for as long as all of it takes (on SQLite every webhook and action waits for it).
Every delivery stored before this is either done or still to be decided from its start: 0.
And index the parked (failed) deliveries, as the pending ones are: /metrics and /readyz count
them on every scrape, which without it scans the whole log.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default: no table copy on SQLite, no rewrite on PostgreSQL.
    op.add_column("intake", sa.Column("progress", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_intake_failed",
        "intake",
        ["id"],
        sqlite_where=sa.text("status = 'failed'"),
        postgresql_where=sa.text("status = 'failed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_intake_failed", table_name="intake")
    with op.batch_alter_table("intake") as batch:
        batch.drop_column("progress")

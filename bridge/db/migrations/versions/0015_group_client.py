"""Store with each alert group the client of the alert that started its current firing stretch, so
that an incident a timer opens (a `for:` hold expiring, a threshold met by time, a release after
maintenance or a silence, a storm's grace) has the client, and so the routing, of one opened at
once. Groups stored before this have no client until their next stretch starts (NULL).

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain nullable ADD COLUMN: no table copy on SQLite, no rewrite on PostgreSQL.
    op.add_column("alert_groups", sa.Column("client", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.drop_column("client")

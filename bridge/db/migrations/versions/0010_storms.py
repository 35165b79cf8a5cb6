"""The storm watch: the one group that correlates alert storms keeps the hosts that started
alerting recently and the label value its members share (see `bridge.dedup.storm`). Nullable,
so every group stored before this simply has no storm to remember.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    op.add_column("alert_groups", sa.Column("storm", json_type, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_groups") as batch:
        batch.drop_column("storm")

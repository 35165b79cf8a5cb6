"""Production mode: when the sweeper last took up a pending delivery.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("intake", sa.Column("requeued_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("intake", "requeued_at")

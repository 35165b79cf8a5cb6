"""Index the alerts by what holds them back: a release (a maintenance window ending, an
inhibiting alert resolving) finds what it held without scanning every alert.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_alerts_suppressed_by", "alerts", ["suppressed_by"])


def downgrade() -> None:
    op.drop_index("ix_alerts_suppressed_by", table_name="alerts")

"""Record with each delivery which host its alerts are about (a hash, see
`bridge.sources.host_shard`), so `bridge rules replay` can split a long history by host between
processes and each reads only the bodies of its share. Deliveries stored before this keep NULL,
as do those about several hosts: every process reads those.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: on SQLite a batch operation would copy the whole intake log.
    op.add_column("intake", sa.Column("host_shard", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake") as batch:
        batch.drop_column("host_shard")

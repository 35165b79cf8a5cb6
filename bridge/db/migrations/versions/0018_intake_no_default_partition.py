"""Bounded storage, the lock-free prune: on PostgreSQL the intake log loses its default
partition, so that a week can be taken out with `DETACH PARTITION ... CONCURRENTLY` (which
PostgreSQL refuses while a default partition exists) instead of a DROP that needs ACCESS
EXCLUSIVE on the whole log and so queues every webhook behind it.

Every row of the default partition is kept: the default partition is detached, the weeks its
rows fall in are created (with this week and the next four, which the periodic job keeps
creating ahead), its rows are inserted again through the log (each into its week) and the old
table is dropped. Downgrading attaches an empty default partition again. SQLite has no
partitions: nothing to do.

Revision ID: 0018
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

WEEKS_AHEAD = 4
DEFAULT = "intake_default"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    has_default = bind.scalar(
        sa.text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'intake'::regclass AND partdefid <> 0")
    )
    weeks = {_week(datetime.now(UTC)) + timedelta(days=7 * n) for n in range(WEEKS_AHEAD + 1)}
    if has_default:
        op.execute(f"ALTER TABLE intake DETACH PARTITION {DEFAULT}")
        weeks.update(
            _week(row[0])
            for row in bind.execute(
                sa.text(
                    "SELECT DISTINCT date_trunc('week', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
                    "FROM intake_default"
                )
            )
        )
    for start in sorted(weeks):
        _create_week(start)
    if has_default:
        op.execute("INSERT INTO intake SELECT * FROM intake_default")
        op.execute(f"DROP TABLE {DEFAULT}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TABLE {DEFAULT} PARTITION OF intake DEFAULT")


def _week(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week of `at`."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _create_week(start: datetime) -> None:
    name = f"intake_w{start:%Y%m%d}"
    if op.get_bind().scalar(sa.text("SELECT to_regclass(:name)"), {"name": name}) is not None:
        return
    end = start + timedelta(days=7)
    op.execute(
        f"CREATE TABLE {name} PARTITION OF intake FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )

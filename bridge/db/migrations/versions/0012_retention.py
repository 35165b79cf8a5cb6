"""Bounded storage: on PostgreSQL the intake log becomes a table partitioned by week of
`received_at` (native declarative partitioning), so that pruning a week of deliveries is a DROP of
one partition, a metadata operation, instead of millions of deletes. Every row is kept: the old
table is renamed, its rows copied into the partitions, then dropped; ids go on from the same
sequence.

A partitioned table's primary key and unique indexes must include the partition key, so the key
is (id, received_at) (every lookup by id still uses it: id leads) and the idempotency key moves to
`intake_keys`, one row per delivery, which a delivery is stored through.

Both databases get `alert_tallies`, what pruned alert rows counted, so the noise report's
figures stay the same after a prune. SQLite keeps a plain intake table (pruned by batched deletes
and an incremental vacuum).

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WEEKS_AHEAD = 4


def upgrade() -> None:
    op.create_table(
        "intake_keys",
        sa.Column("dedup_key", sa.String(200), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_intake_keys_received_at", "intake_keys", ["received_at"])
    op.create_table(
        "alert_tallies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("disposition", sa.String(10), nullable=False),
        sa.Column("suppressed_by", sa.String(255), nullable=False),
        sa.Column("alerts", sa.BigInteger(), nullable=False),
        sa.Column("occurrences", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint(
            "hour", "source", "rule", "name", "disposition", "suppressed_by", name="uq_alert_tallies_key"
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        _partition_intake()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _unpartition_intake()
    op.drop_table("alert_tallies")
    op.drop_index("ix_intake_keys_received_at", table_name="intake_keys")
    op.drop_table("intake_keys")


def _week(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week of `at`."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def _create_week(start: datetime) -> None:
    end = start + timedelta(days=7)
    op.execute(
        f"CREATE TABLE IF NOT EXISTS intake_w{start:%Y%m%d} PARTITION OF intake "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def _partition_intake() -> None:
    bind = op.get_bind()
    op.execute("ALTER TABLE intake RENAME TO intake_unpartitioned")
    op.execute("ALTER SEQUENCE intake_id_seq OWNED BY NONE")
    op.execute(
        "CREATE TABLE intake (LIKE intake_unpartitioned INCLUDING DEFAULTS) PARTITION BY RANGE (received_at)"
    )
    op.execute("ALTER SEQUENCE intake_id_seq OWNED BY intake.id")
    weeks = {
        _week(row[0])
        for row in bind.execute(
            sa.text(
                "SELECT DISTINCT date_trunc('week', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
                "FROM intake_unpartitioned"
            )
        )
    }
    this_week = _week(datetime.now(UTC))
    weeks.update(this_week + timedelta(days=7 * n) for n in range(WEEKS_AHEAD + 1))
    for start in sorted(weeks):
        _create_week(start)
    op.execute("CREATE TABLE intake_default PARTITION OF intake DEFAULT")
    op.execute("INSERT INTO intake SELECT * FROM intake_unpartitioned")
    op.execute(
        "INSERT INTO intake_keys (dedup_key, received_at) SELECT dedup_key, received_at FROM intake_unpartitioned"
    )
    op.execute("DROP TABLE intake_unpartitioned")
    op.execute("ALTER TABLE intake ADD CONSTRAINT intake_pkey PRIMARY KEY (id, received_at)")
    _intake_indexes()
    op.execute("ANALYZE intake")


def _intake_indexes() -> None:
    op.create_index("ix_intake_pending", "intake", ["id"], postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_intake_failed", "intake", ["id"], postgresql_where=sa.text("status = 'failed'"))
    op.create_index("ix_intake_received_at", "intake", ["received_at"])


def _unpartition_intake() -> None:
    op.execute("ALTER TABLE intake RENAME TO intake_partitioned")
    op.execute("ALTER SEQUENCE intake_id_seq OWNED BY NONE")
    op.execute("CREATE TABLE intake (LIKE intake_partitioned INCLUDING DEFAULTS)")
    op.execute("ALTER SEQUENCE intake_id_seq OWNED BY intake.id")
    op.execute("INSERT INTO intake SELECT * FROM intake_partitioned ORDER BY id")
    op.execute("DROP TABLE intake_partitioned CASCADE")
    op.execute("ALTER TABLE intake ADD CONSTRAINT intake_pkey PRIMARY KEY (id)")
    op.execute("ALTER TABLE intake ADD CONSTRAINT intake_dedup_key_key UNIQUE (dedup_key)")
    _intake_indexes()

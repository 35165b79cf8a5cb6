"""The alert tallies also keep what the noise report counts by: the hour of the last event (the
noise report's period is by last event, `alert_counts` by first sighting), the host, and why an
alert paged nobody, as one word (`silenced`, `for`, ...). So after a prune the noise report's
top hosts and suppressed-by-reason figures stay the same as well. And `intake_tallies`: what
pruned deliveries counted (deliveries and alert events per source and hour received), for the
noise report's traffic figures.

Tallies written before this revision get `last_hour = hour`, no host and no reason: they were
only ever counted by first sighting.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-05
"""

# Column names put into the SQL here are this module's constants.
# ruff: noqa: S608

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

OLD_KEY = ["hour", "source", "rule", "name", "disposition", "suppressed_by"]
NEW_KEY = [*OLD_KEY, "last_hour", "host", "reason"]


def upgrade() -> None:
    op.create_table(
        "intake_tallies",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("deliveries", sa.BigInteger(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("hour", "source", name="uq_intake_tallies_key"),
    )
    with op.batch_alter_table("alert_tallies") as batch:
        batch.add_column(sa.Column("last_hour", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("host", sa.String(255), nullable=False, server_default=""))
        batch.add_column(sa.Column("reason", sa.String(30), nullable=False, server_default=""))
    op.execute("UPDATE alert_tallies SET last_hour = hour")
    with op.batch_alter_table("alert_tallies") as batch:
        batch.alter_column("last_hour", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.drop_constraint("uq_alert_tallies_key", type_="unique")
        batch.create_unique_constraint("uq_alert_tallies_key", NEW_KEY)


def downgrade() -> None:
    # Tallies that differ only by the new columns are added together into one again.
    same = " AND ".join(f"t.{c} = alert_tallies.{c}" for c in OLD_KEY)
    for column in ("alerts", "occurrences"):
        op.execute(
            f"UPDATE alert_tallies SET {column} = (SELECT sum(t.{column}) FROM alert_tallies t WHERE {same})"
        )
    op.execute(
        "DELETE FROM alert_tallies WHERE id NOT IN (SELECT min(id) FROM alert_tallies GROUP BY "
        + ", ".join(OLD_KEY)
        + ")"
    )
    with op.batch_alter_table("alert_tallies") as batch:
        batch.drop_constraint("uq_alert_tallies_key", type_="unique")
        batch.drop_column("reason")
        batch.drop_column("host")
        batch.drop_column("last_hour")
        batch.create_unique_constraint("uq_alert_tallies_key", OLD_KEY)
    op.drop_table("intake_tallies")

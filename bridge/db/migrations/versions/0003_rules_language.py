"""Rules language: held-back and merged alerts, flapping and heartbeat state, incident route,
client and flapping, related alerts, run-time silences.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: on SQLite a batch would copy the tables and lose
    # `incidents`' AUTOINCREMENT (numbers must never repeat) and the deferred foreign keys.
    op.add_column("alerts", sa.Column("suppressed_by", sa.String(255)))
    op.add_column("alerts", sa.Column("members", Json, nullable=False, server_default="[]"))
    op.add_column("alert_groups", sa.Column("changes", Json, nullable=False, server_default="[]"))
    op.add_column(
        "alert_groups", sa.Column("flapping", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("alert_groups", sa.Column("last_seen", Instant))
    op.add_column("incidents", sa.Column("route", sa.String(100)))
    op.add_column("incidents", sa.Column("client", sa.String(200)))
    op.add_column("incidents", sa.Column("flapping", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_incidents_client", "incidents", ["client"])
    op.add_column(
        "incident_alerts", sa.Column("role", sa.String(10), nullable=False, server_default="member")
    )
    op.create_table(
        "silences",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("matchers", Json, nullable=False),
        sa.Column("starts_at", Instant, nullable=False),
        sa.Column("ends_at", Instant, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("expired_at", Instant),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_table("silences")
    with op.batch_alter_table("incident_alerts") as batch:
        batch.drop_column("role")
    op.drop_index("ix_incidents_client", "incidents")
    with op.batch_alter_table("incidents", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for column in ("flapping", "client", "route"):
            batch.drop_column(column)
    with op.batch_alter_table("alert_groups") as batch:
        for column in ("last_seen", "flapping", "changes"):
            batch.drop_column(column)
    with op.batch_alter_table("alerts") as batch:
        for column in ("members", "suppressed_by"):
            batch.drop_column(column)

"""Integrations: an outbox of write-back jobs, Alertmanager silences, reconciliation state.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
OPEN_JOBS = sa.text("status IN ('pending', 'running')")


def incident_ref() -> sa.ForeignKey:
    return sa.ForeignKey("incidents.number", deferrable=True, initially="DEFERRED")


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("incident_number", BigId, incident_ref()),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Instant, nullable=False),
        sa.Column("lease_until", Instant),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("done_at", Instant),
    )
    op.create_index(
        "ix_outbox_due", "outbox", ["next_attempt_at"], sqlite_where=OPEN_JOBS, postgresql_where=OPEN_JOBS
    )
    op.create_table(
        "alertmanager_silences",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_number", BigId, incident_ref(), nullable=False),
        sa.Column("fingerprint", sa.String(200), nullable=False),
        sa.Column("silence_id", sa.String(64), nullable=False),
        sa.Column("ends_at", Instant, nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("expired_at", Instant),
    )
    op.create_index("ix_am_silences_incident", "alertmanager_silences", ["incident_number"])
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("missing_since", Instant))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("missing_since")
    op.drop_table("alertmanager_silences")
    op.drop_table("outbox")

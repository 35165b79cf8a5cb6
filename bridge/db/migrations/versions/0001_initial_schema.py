"""Initial schema: intake log, alerts, alert groups, incidents and their alerts, timeline, timers, credentials.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ACTIVE = sa.text("status IN ('open', 'acknowledged')")
PENDING = sa.text("status = 'pending'")


def incident_ref() -> sa.ForeignKey:
    return sa.ForeignKey("incidents.number", deferrable=True, initially="DEFERRED")


def upgrade() -> None:
    op.create_table(
        "credentials",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("expires_at", Instant),
        sa.Column("revoked_at", Instant),
    )
    op.create_table(
        "incidents",
        sa.Column("number", BigId, primary_key=True, autoincrement=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("priority", sa.String(2), nullable=False),
        sa.Column("group_key", sa.String(255)),
        sa.Column("rule", sa.String(200)),
        sa.Column("source", sa.String(20)),
        sa.Column("host", sa.String(255)),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("occurrence_count", sa.Integer(), nullable=False),
        sa.Column("first_alert_at", Instant),
        sa.Column("last_alert_at", Instant),
        sa.Column("opened_at", Instant, nullable=False),
        sa.Column("acknowledged_at", Instant),
        sa.Column("resolved_at", Instant),
        sa.Column("closed_at", Instant),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", Instant, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_incidents_status_priority", "incidents", ["status", "priority"])
    op.create_index(
        "uq_incidents_active_group",
        "incidents",
        ["group_key"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "intake",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=False, unique=True),
        sa.Column("received_at", Instant, nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("processed_at", Instant),
    )
    op.create_index("ix_intake_pending", "intake", ["id"], sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index("ix_intake_received_at", "intake", ["received_at"])
    op.create_table(
        "timers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("due_at", Instant, nullable=False),
        sa.UniqueConstraint("kind", "subject", name="uq_timers_kind_subject"),
    )
    op.create_index("ix_timers_due", "timers", ["due_at"])
    op.create_table(
        "alert_groups",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("firing", sa.Integer(), nullable=False),
        sa.Column("firing_since", Instant),
        sa.Column("quiet_since", Instant),
        sa.Column("occurrences", Json, nullable=False),
        sa.Column("severity", sa.String(10)),
        sa.Column("incident_number", BigId, incident_ref()),
        sa.Column("updated_at", Instant, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(200), nullable=False, unique=True),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("source_ref", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("starts_at", Instant, nullable=False),
        sa.Column("ends_at", Instant),
        sa.Column("first_seen_at", Instant, nullable=False),
        sa.Column("last_event_at", Instant, nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("group_key", sa.String(255)),
        sa.Column("disposition", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("incident_number", BigId, incident_ref()),
        sa.Column("occurrences", sa.Integer(), nullable=False),
    )
    op.create_index("ix_alerts_group", "alerts", ["group_key"])
    op.create_index("ix_alerts_incident", "alerts", ["incident_number"])
    op.create_index("ix_alerts_last_event", "alerts", ["last_event_at"])
    op.create_table(
        "incident_alerts",
        sa.Column("incident_number", BigId, incident_ref(), primary_key=True),
        sa.Column("fingerprint", sa.String(200), primary_key=True),
        sa.Column("first_attached_at", Instant, nullable=False),
        sa.Column("last_attached_at", Instant, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
    )
    op.create_table(
        "timeline",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_number", BigId, incident_ref(), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(200)),
    )
    op.create_index("ix_timeline_incident", "timeline", ["incident_number", "id"])


def downgrade() -> None:
    for table in (
        "timeline",
        "incident_alerts",
        "alerts",
        "alert_groups",
        "timers",
        "intake",
        "incidents",
        "credentials",
    ):
        op.drop_table(table)

"""Rota, escalation and SLA: incident owner, line, type, escalation state, deadlines, returns and
stale status; notifications; on-call overrides.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)
OLD_ACTIVE = sa.text("status IN ('open', 'acknowledged')")
ACTIVE = sa.text("status IN ('open', 'acknowledged', 'stale')")
COLUMNS = (
    ("type", sa.String(20), "incident"),
    ("description", sa.Text(), ""),
    ("reporter", sa.String(200), None),
    ("assignee", sa.String(100), None),
    ("line", sa.String(2), "L1"),
    ("policy", sa.String(100), None),
    ("escalation_step", sa.Integer(), None),
    ("escalation_round", sa.Integer(), "0"),
    ("ack_due_at", Instant, None),
    ("resolve_due_at", Instant, None),
    ("ack_breached_at", Instant, None),
    ("resolve_breached_at", Instant, None),
    ("return_count", sa.Integer(), "0"),
    ("stale_from", sa.String(20), None),
    ("worked_at", Instant, None),
)


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: a batch would rebuild `incidents` and lose AUTOINCREMENT.
    for name, kind, default in COLUMNS:
        if default is None:
            op.add_column("incidents", sa.Column(name, kind))
        else:
            op.add_column("incidents", sa.Column(name, kind, nullable=False, server_default=default))
    op.create_index("ix_incidents_assignee", "incidents", ["assignee"])
    # A stale incident is still the group's active one.
    op.drop_index("uq_incidents_active_group", "incidents")
    op.create_index(
        "uq_incidents_active_group",
        "incidents",
        ["group_key"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )
    op.create_table(
        "notifications",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "incident_number",
            BigId,
            sa.ForeignKey("incidents.number", deferrable=True, initially="DEFERRED"),
        ),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", Instant, nullable=False),
        sa.Column("lease_until", Instant),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("sent_at", Instant),
    )
    due = sa.text("status IN ('pending', 'running')")
    op.create_index(
        "ix_notifications_due", "notifications", ["next_attempt_at"], sqlite_where=due, postgresql_where=due
    )
    op.create_index("ix_notifications_incident", "notifications", ["incident_number", "id"])
    op.create_table(
        "oncall_overrides",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(100), nullable=False),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("starts_at", Instant, nullable=False),
        sa.Column("ends_at", Instant, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("cancelled_at", Instant),
    )
    op.create_index("ix_oncall_overrides_ends_at", "oncall_overrides", ["ends_at"])


def downgrade() -> None:
    op.drop_table("oncall_overrides")
    op.drop_table("notifications")
    op.drop_index("uq_incidents_active_group", "incidents")
    op.create_index(
        "uq_incidents_active_group",
        "incidents",
        ["group_key"],
        unique=True,
        sqlite_where=OLD_ACTIVE,
        postgresql_where=OLD_ACTIVE,
    )
    op.drop_index("ix_incidents_assignee", "incidents")
    with op.batch_alter_table("incidents", table_kwargs={"sqlite_autoincrement": True}) as batch:
        for name, _, _ in reversed(COLUMNS):
            batch.drop_column(name)

"""The mail intake: a log of every mail fetched from the desk's mailbox (keyed by Message-ID, so
a mail fetched twice is stored once) and the attachments kept with the incidents they opened.

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)
PENDING = sa.text("status = 'pending'")


def incident_ref() -> sa.ForeignKey:
    return sa.ForeignKey("incidents.number", deferrable=True, initially="DEFERRED")


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_key", sa.String(200), nullable=False, unique=True),
        sa.Column("received_at", Instant, nullable=False),
        sa.Column("sender", sa.String(200)),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("outcome", sa.String(20)),
        sa.Column("incident_number", BigId, incident_ref()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", Instant),
    )
    op.create_index(
        "ix_mail_messages_pending", "mail_messages", ["id"], sqlite_where=PENDING, postgresql_where=PENDING
    )
    op.create_index("ix_mail_messages_incident", "mail_messages", ["incident_number"])
    op.create_table(
        "mail_attachments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("incident_number", BigId, incident_ref(), nullable=False),
        sa.Column("message_id", BigId, sa.ForeignKey("mail_messages.id"), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary()),
        sa.Column("path", sa.Text()),
        sa.Column("created_at", Instant, nullable=False),
    )
    op.create_index("ix_mail_attachments_incident", "mail_attachments", ["incident_number", "id"])


def downgrade() -> None:
    op.drop_table("mail_attachments")
    op.drop_table("mail_messages")

"""Acknowledge and Escalate links in notification mails: the links issued (each single-use, so
its use is recorded on its row) and every confirmation a person sends (for the rate limit).

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mail_links",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "incident_number",
            BigId,
            sa.ForeignKey("incidents.number", deferrable=True, initially="DEFERRED"),
            nullable=False,
        ),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("issued_at", Instant, nullable=False),
        sa.Column("expires_at", Instant, nullable=False),
        sa.Column("used_at", Instant),
    )
    op.create_index("ix_mail_links_expires", "mail_links", ["expires_at"])
    op.create_table(
        "mail_link_uses",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("person", sa.String(100), nullable=False),
        sa.Column("at", Instant, nullable=False),
    )
    op.create_index("ix_mail_link_uses_person_at", "mail_link_uses", ["person", "at"])


def downgrade() -> None:
    op.drop_table("mail_link_uses")
    op.drop_table("mail_links")

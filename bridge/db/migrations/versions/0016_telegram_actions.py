"""Acting from Telegram (issue 15): the channel a timeline entry came by (`via`: "telegram", or
NULL for the console, the API and bridge itself); a user's linked Telegram account and the
one-time code that links it; the message id a sent notification got (a reply to it is a comment
on its incident); the bot's update offset and polling lease; and every update taken (one row per
update id: an update is acted on once, and presses are counted per account for the rate limit).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain nullable ADD COLUMNs: no table copy on SQLite, no rewrite on PostgreSQL.
    op.add_column("timeline", sa.Column("via", sa.String(20), nullable=True))
    op.add_column("users", sa.Column("telegram_id", sa.BigInteger(), nullable=True))
    op.add_column("users", sa.Column("telegram_code_sha256", sa.String(64), nullable=True))
    op.add_column("users", sa.Column("telegram_code_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("uq_users_telegram_id", "users", ["telegram_id"], unique=True)
    op.create_index("uq_users_telegram_code", "users", ["telegram_code_sha256"], unique=True)
    op.add_column("notifications", sa.Column("external_ref", sa.String(100), nullable=True))
    op.create_index("ix_notifications_external_ref", "notifications", ["channel", "address", "external_ref"])
    op.create_table(
        "telegram_poller",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("next_update_id", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "telegram_updates",
        sa.Column("update_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("from_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(40), nullable=False),
        sa.Column("incident_number", BIG_ID, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_telegram_updates_from_at", "telegram_updates", ["from_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_telegram_updates_from_at", table_name="telegram_updates")
    op.drop_table("telegram_updates")
    op.drop_table("telegram_poller")
    op.drop_index("ix_notifications_external_ref", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("external_ref")
    op.drop_index("uq_users_telegram_code", table_name="users")
    op.drop_index("uq_users_telegram_id", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("telegram_code_expires_at")
        batch.drop_column("telegram_code_sha256")
        batch.drop_column("telegram_id")
    with op.batch_alter_table("timeline") as batch:
        batch.drop_column("via")

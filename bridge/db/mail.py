"""The mail intake's log in the database: a mail fetched from the desk's mailbox is one row,
committed before the mail leaves the folder bridge reads, and the queries that find what is still
to register and which incident a reply belongs to.

Storing is a single INSERT ... ON CONFLICT DO NOTHING on the mail's key (its Message-ID), so a
mail fetched again after a crash, or delivered twice, is stored once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bridge.db.models import MailMessage, MailStatus, Notification

_OWN_MESSAGE_ID = re.compile(r"^bridge-notification-(\d{1,18})@")


def store_message(
    session: Session,
    key: str,
    received_at: datetime,
    raw: bytes,
    sender: str | None,
    subject: str,
    status: MailStatus,
    reason: str | None = None,
) -> int | None:
    """Add the mail's row in the caller's transaction; None when a row with its key exists."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(MailMessage)
        .values(
            message_key=key,
            received_at=received_at,
            raw=raw,
            sender=sender,
            subject=subject,
            status=status,
            reason=reason,
            attempts=0,
            processed_at=received_at if status is MailStatus.REFUSED else None,
        )
        .on_conflict_do_nothing(index_elements=[MailMessage.message_key])
        .returning(MailMessage.id)
    )
    return session.execute(statement).scalar_one_or_none()


def status_of(session: Session, key: str) -> tuple[int, MailStatus] | None:
    """The id and status of the mail stored with `key`, if any."""
    row = session.execute(
        select(MailMessage.id, MailMessage.status).where(MailMessage.message_key == key)
    ).first()
    return (row[0], row[1]) if row else None


def pending_ids(session: Session, limit: int) -> list[int]:
    """Mail stored but not registered yet (a worker stopped in between), oldest first."""
    return list(
        session.scalars(
            select(MailMessage.id)
            .where(MailMessage.status == MailStatus.PENDING)
            .order_by(MailMessage.id)
            .limit(limit)
        )
    )


def thread_incidents(session: Session, references: Sequence[str]) -> list[int]:
    """Incidents that mails in `references` opened or joined, nearest reference first: the
    client's own earlier mails, and bridge's messages (``bridge-notification-N@...``)."""
    if not references:
        return []
    by_key: dict[str, int | None] = {
        key: number
        for key, number in session.execute(
            select(MailMessage.message_key, MailMessage.incident_number).where(
                MailMessage.message_key.in_(references), MailMessage.incident_number.is_not(None)
            )
        )
    }
    own = {int(m.group(1)) for r in references if (m := _OWN_MESSAGE_ID.match(r))}
    by_notification: dict[int, int | None] = {}
    if own:
        query = select(Notification.id, Notification.incident_number).where(Notification.id.in_(own))
        by_notification = {row_id: number for row_id, number in session.execute(query)}
    found: list[int] = []
    for reference in references:
        number = by_key.get(reference)
        if number is None and (m := _OWN_MESSAGE_ID.match(reference)):
            number = by_notification.get(int(m.group(1)))
        if number is not None and number not in found:
            found.append(number)
    return found


def is_own_message_id(message_id: str) -> bool:
    """Whether a Message-ID is one bridge's mail channel gave (see `EmailChannel.compose`)."""
    return _OWN_MESSAGE_ID.match(message_id) is not None

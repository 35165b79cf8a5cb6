"""The intake log in the database: every accepted delivery is one row, committed before the sender
gets its 2xx, and the queries the pipeline and the sweeper find pending deliveries with.

Storing is a single INSERT ... ON CONFLICT DO NOTHING on the delivery's idempotency key, so a
redelivery (Alertmanager HA peers, Zabbix retries) is accepted again without being stored twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import ReturningInsert

from bridge.db import retention
from bridge.db.models import Intake, IntakeKey, IntakeStatus
from bridge.errors import StorageUnavailable
from bridge.sources import Delivery

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Stored:
    intake_id: int | None  # None for a redelivery of something already stored
    duplicate: bool


def store_delivery(
    sessions: sessionmaker[Session], delivery: Delivery, body: bytes, received_at: datetime
) -> Stored:
    """Commit the raw delivery; raises StorageUnavailable if the database cannot take it.

    On PostgreSQL a delivery for a week the intake log has no partition for yet (the periodic
    job creates them ahead; this is the case where it did not run) creates that week on demand,
    in a short transaction of its own, and is stored then; if even that fails, the sender gets
    StorageUnavailable (a 503) and retries: nothing is dropped."""
    row = intake_row(delivery, body, received_at)
    try:
        try:
            intake_id = _insert(sessions, row)
        except IntegrityError as exc:
            if not retention.no_partition(exc):
                raise
            with sessions() as session, session.begin():
                if retention.create_partition(session, retention.week_start(received_at)):
                    log.warning("intake partition for %s created on demand", received_at.date())
            intake_id = _insert(sessions, row)
    except SQLAlchemyError as exc:
        log.error("cannot store a %s delivery: %s", delivery.source.value, exc.__class__.__name__)
        raise StorageUnavailable(f"cannot store the delivery: {exc.__class__.__name__}") from exc
    return Stored(intake_id=intake_id, duplicate=intake_id is None)


def _insert(sessions: sessionmaker[Session], row: dict[str, Any]) -> int | None:
    with sessions() as session, session.begin():
        if session.get_bind().dialect.name == "postgresql":
            statement = _insert_through_key(row)
        else:
            statement = (
                sqlite.insert(Intake)
                .values(row)
                .on_conflict_do_nothing(index_elements=[Intake.dedup_key])
                .returning(Intake.id)
            )
        return session.execute(statement).scalar_one_or_none()


def _insert_through_key(row: dict[str, Any]) -> ReturningInsert[Any]:
    """PostgreSQL's partitioned intake log has no unique index on the key (it could not span the
    partitions): the key goes into `intake_keys` first and the delivery is inserted only when
    that did insert, in one statement (a concurrent twin waits on the key, then finds it)."""
    key = (
        postgresql.insert(IntakeKey)
        .values(dedup_key=row["dedup_key"], received_at=row["received_at"])
        .on_conflict_do_nothing(index_elements=[IntakeKey.dedup_key])
        .returning(IntakeKey.dedup_key)
        .cte("new_key")
    )
    columns = Intake.__table__.c
    values = select(*(literal(value, columns[name].type).label(name) for name, value in row.items()))
    return (
        insert(Intake)
        .from_select(list(row), values.select_from(key), include_defaults=False)
        .returning(Intake.id)
    )


def intake_row(delivery: Delivery, body: bytes, received_at: datetime) -> dict[str, Any]:
    """The intake log's row for an accepted delivery, still to be processed."""
    return {
        "source": delivery.source,
        "dedup_key": delivery.dedup_key,
        "received_at": received_at,
        "body": body,
        "alert_count": len(delivery.alerts),
        "host_shard": delivery.host_shard,
        "status": IntakeStatus.PENDING,
        "attempts": 0,
    }


def pending_ids(
    session: Session,
    limit: int,
    max_alerts: int | None = None,
    *,
    upto: int | None = None,
    after: int = 0,
    fresh_only_but: int | None = None,
) -> list[int]:
    """Ids of deliveries still to process, oldest first: at most `limit` of them and, when
    `max_alerts` is given, no more alerts still to decide than that in all (but always at least
    one delivery);
    only ids above `after` and, with `upto`, none above `upto`. With `fresh_only_but`, none
    that failed before except that one (failed ones come back through the sweeper, once per
    grace period, not with every job)."""
    remaining = Intake.alert_count - Intake.progress  # a delivery decided in slices has fewer left
    query = select(Intake.id, remaining).where(Intake.status == IntakeStatus.PENDING)
    if after:
        query = query.where(Intake.id > after)
    if upto is not None:
        query = query.where(Intake.id <= upto)
    if fresh_only_but is not None:
        query = query.where((Intake.attempts == 0) | (Intake.id == fresh_only_but))
    query = query.order_by(Intake.id).limit(limit)
    ids: list[int] = []
    alerts = 0
    for intake_id, count in session.execute(query):
        if ids and max_alerts is not None and alerts + count > max_alerts:
            break
        ids.append(intake_id)
        alerts += count
    return ids


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in the intake log: deliveries still to process, and those parked as failed."""

    pending: int
    parked: int
    oldest_pending_at: datetime | None

    def oldest_pending_seconds(self, now: datetime) -> float:
        """How long the oldest pending delivery has waited (0 when none waits)."""
        if self.oldest_pending_at is None:
            return 0.0
        return max(0.0, (now - self.oldest_pending_at).total_seconds())


def backlog(session: Session) -> Backlog:
    """Counts of the small states only, each through its partial index (counting every done
    delivery would scan the whole log); the oldest pending one through the pending index."""
    pending, parked = (
        session.scalar(select(func.count()).select_from(Intake).where(Intake.status == state)) or 0
        for state in (IntakeStatus.PENDING, IntakeStatus.FAILED)
    )
    oldest = session.scalar(
        select(Intake.received_at).where(Intake.status == IntakeStatus.PENDING).order_by(Intake.id).limit(1)
    )
    return Backlog(pending, parked, oldest)


def latest_pending_id(session: Session) -> int | None:
    return session.scalar(select(func.max(Intake.id)).where(Intake.status == IntakeStatus.PENDING))


def retry_failed(session: Session, ids: Sequence[int] | None = None) -> list[int]:
    """Put deliveries parked as failed (these `ids`, or all) back to pending with their attempts
    reset, in the caller's transaction; returns the ids that were parked. Their last error stays
    until they are processed."""
    statement = (
        update(Intake)
        .where(Intake.status == IntakeStatus.FAILED)
        .values(status=IntakeStatus.PENDING, attempts=0, requeued_at=None)
        .returning(Intake.id)
    )
    if ids is not None:
        statement = statement.where(Intake.id.in_(ids))
    return sorted(session.scalars(statement))


def drop_failed(session: Session, ids: Sequence[int] | None = None) -> list[int]:
    """Delete deliveries parked as failed (these `ids`, or all) with their idempotency keys, in
    the caller's transaction; returns the ids that were parked. A redelivery of one is then
    accepted as new."""
    statement = (
        delete(Intake).where(Intake.status == IntakeStatus.FAILED).returning(Intake.id, Intake.dedup_key)
    )
    if ids is not None:
        statement = statement.where(Intake.id.in_(ids))
    dropped = session.execute(statement).all()
    if dropped:
        session.execute(delete(IntakeKey).where(IntakeKey.dedup_key.in_([key for _, key in dropped])))
    return sorted(intake_id for intake_id, _ in dropped)

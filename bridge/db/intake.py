"""The intake log in the database: every accepted delivery is one row, committed before the sender
gets its 2xx, and the queries the pipeline and the sweeper find pending deliveries with.

Storing is a single INSERT ... ON CONFLICT DO NOTHING on the delivery's idempotency key (on
PostgreSQL through the key table, in the same statement), so a redelivery (Alertmanager HA peers,
Zabbix retries) is accepted again without being stored twice.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from bridge.db import retention
from bridge.db.engine import unpinged
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

    A pooled connection found dead (the database restarted since it was last used) is retired
    with the rest of the pool and the delivery tried once more on a new one: pooled connections
    are pinged for the intake only after sitting idle (`bridge.db.engine.IDLE_BEFORE_PING`),
    not per webhook.

    On PostgreSQL a delivery for a week the intake log has no partition for yet (the periodic
    job creates them ahead; this is the case where it did not run) creates that week on demand,
    in a short transaction of its own, and is stored then; if even that fails, the sender gets
    StorageUnavailable (a 503) and retries: nothing is dropped."""
    row = intake_row(delivery, body, received_at)
    engine = sessions.kw["bind"]
    for attempt in (1, 2):
        try:
            if engine.dialect.name == "postgresql":
                intake_id = _store_postgresql_in_its_week(sessions, engine, row)
            else:
                intake_id = _sqlite_writer(sessions).store(row)
        except DBAPIError as exc:
            if attempt == 1 and exc.connection_invalidated:
                continue  # safe even if it had committed: the idempotency key stores it once
            raise _unavailable(delivery, exc) from exc
        except SQLAlchemyError as exc:
            raise _unavailable(delivery, exc) from exc
        return Stored(intake_id=intake_id, duplicate=intake_id is None)
    raise AssertionError("unreachable: the second attempt returns or raises")


def _unavailable(delivery: Delivery, exc: SQLAlchemyError) -> StorageUnavailable:
    log.error("cannot store a %s delivery: %s", delivery.source.value, exc.__class__.__name__)
    return StorageUnavailable(f"cannot store the delivery: {exc.__class__.__name__}")


_INTAKE_COLUMNS = (
    "source",
    "dedup_key",
    "received_at",
    "body",
    "alert_count",
    "host_shard",
    "status",
    "attempts",
)
"""The columns `intake_row` fills."""


def _typed(name: str) -> str:
    """The parameter of an intake column, cast to the column's type (a NULL or a string
    parameter in a SELECT list has no type of its own)."""
    column_type = Intake.__table__.c[name].type.compile(dialect=postgresql.dialect())  # type: ignore[no-untyped-call]
    return f"CAST(%({name})s AS {column_type})"


# Table and column names from the model, every value a parameter:
_POSTGRESQL_INSERT = (
    f"WITH new_key AS (INSERT INTO {IntakeKey.__tablename__} (dedup_key, received_at) "  # noqa: S608
    "VALUES (%(dedup_key)s, %(received_at)s) ON CONFLICT (dedup_key) DO NOTHING RETURNING dedup_key) "
    f"INSERT INTO {Intake.__tablename__} ({', '.join(_INTAKE_COLUMNS)}) "
    f"SELECT {', '.join(_typed(name) for name in _INTAKE_COLUMNS)} FROM new_key RETURNING id"
)
"""The webhook's one statement on PostgreSQL. The partitioned intake log has no unique index on
the key (it could not span the partitions): the key goes into `intake_keys` first and the delivery
is inserted only when that did insert, in one statement (a concurrent twin waits on the key, then
finds it). A fixed text sent as is: building and compiling the same statement through the ORM
for every webhook cost more CPU than the rest of the request (measured with bench/sidebyside.py),
and psycopg prepares a statement it sees again, so PostgreSQL plans it once per connection."""


def _store_postgresql(engine: Engine, row: dict[str, Any]) -> int | None:
    params = {
        **row,
        "source": row["source"].value,
        "status": row["status"].value,
        "received_at": row["received_at"].astimezone(UTC),
    }
    # One statement is one transaction: in autocommit it is committed (and with PostgreSQL's
    # synchronous_commit, on disk) when its answer arrives, without a BEGIN and a COMMIT round trip.
    # Sent on the pooled connection's psycopg connection itself: SQLAlchemy's Connection around
    # it (checkout wrapper, execution options, the execution context, the result) cost as much
    # CPU as psycopg's own work for this one statement (py-spy under bench/sidebyside.py). The
    # pool still hands the connection out (with its ping when idle) and takes it back; an error
    # is raised as SQLAlchemy raises it (`DBAPIError`, with `connection_invalidated`).
    with unpinged():
        pooled = engine.raw_connection()
    try:
        connection: Any = pooled.driver_connection
        try:
            connection.autocommit = True
            try:
                with connection.cursor() as cursor:
                    cursor.execute(_POSTGRESQL_INSERT, params)
                    found = cursor.fetchone()
            finally:
                connection.autocommit = False  # as the pool's other users expect it
        except engine.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(engine, pooled, connection, exc, params) from exc
    finally:
        pooled.close()
    return None if found is None else int(found[0])


def _wrapped(
    engine: Engine, pooled: Any, connection: Any, exc: Any, params: dict[str, Any]
) -> StatementError:
    """`exc` of psycopg as SQLAlchemy's Connection raises it; a connection found dead is retired
    with the rest of the pool (what the Connection does on a disconnect), so that the retry
    (`store_delivery`) takes a new one rather than another dead one."""
    dead = engine.dialect.is_disconnect(exc, connection, None) or connection.closed or connection.broken
    if dead:
        engine.pool._invalidate(pooled, exc)  # the pool-wide retirement SQLAlchemy does
    wrapped: StatementError = DBAPIError.instance(
        _POSTGRESQL_INSERT,
        params,
        exc,
        engine.dialect.loaded_dbapi.Error,
        connection_invalidated=dead,
        dialect=engine.dialect,
    )
    return wrapped


def _store_postgresql_in_its_week(
    sessions: sessionmaker[Session], engine: Engine, row: dict[str, Any]
) -> int | None:
    try:
        return _store_postgresql(engine, row)
    except IntegrityError as exc:
        if not retention.no_partition(exc):
            raise
    with sessions() as session, session.begin():
        if retention.create_partition(session, retention.week_start(row["received_at"])):
            log.warning("intake partition for %s created on demand", row["received_at"].date())
    return _store_postgresql(engine, row)


class _Pending:
    """A row waiting for the group commit, and what became of it."""

    __slots__ = ("done", "error", "intake_id", "leads", "row")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.done = threading.Event()
        self.leads = False
        """Woken to write the next group (its own row among them), not because it was written."""
        self.intake_id: int | None = None
        self.error: BaseException | None = None


class SQLiteGroupCommit:
    """Group commit of webhook deliveries on SQLite: rows that arrive while one transaction
    writes are written together in the next, and every caller returns once its row is committed
    (so a 2xx still means on disk).

    SQLite takes one writer at a time and every commit waits for an fsync: one transaction per
    webhook made the webhooks queue for the write lock behind each other's commits and the
    worker's (bench/sidebyside.py's embedded server spent most of its time in
    `WriteTurn.take`). The first caller writes; callers arriving meanwhile queue their rows and
    wait. Once its group is committed the writer hands the writing to the first caller still
    queued, which writes everything queued by then in one transaction, and so on: each caller
    writes at most one group, so none is kept from answering by the others. Should a grouped
    transaction fail, its rows are tried one transaction each, so one bad row fails only its
    own webhook."""

    def __init__(self, sessions: sessionmaker[Session], max_rows: int = 256) -> None:
        self.sessions = sessions
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._queued: list[_Pending] = []
        self._writing = False

    def store(self, row: dict[str, Any]) -> int | None:
        """Commit `row` (grouped with concurrent ones); its id, or None for a redelivery."""
        mine = _Pending(row)
        with self._lock:
            self._queued.append(mine)
            mine.leads = not self._writing
            self._writing = True
        if not mine.leads:
            mine.done.wait()
        if mine.leads:
            self._write_next_group()
        if mine.error is not None:
            raise mine.error
        return mine.intake_id

    def _write_next_group(self) -> None:
        with self._lock:
            group, self._queued = self._queued[: self.max_rows], self._queued[self.max_rows :]
        try:
            self._write(group)
        finally:
            with self._lock:
                if self._queued:
                    following = self._queued[0]
                    following.leads = True
                    following.done.set()
                else:
                    self._writing = False

    def _write(self, group: list[_Pending]) -> None:
        try:
            self._insert(group)
        except SQLAlchemyError as exc:
            if len(group) == 1:
                group[0].error = exc
            else:
                for pending in group:
                    try:
                        self._insert([pending])
                    except SQLAlchemyError as single:
                        pending.error = single
        finally:
            for pending in group:
                pending.done.set()

    def _insert(self, group: list[_Pending]) -> None:
        with self.sessions() as session, session.begin():
            ids = [
                session.execute(
                    sqlite.insert(Intake)
                    .values(pending.row)
                    .on_conflict_do_nothing(index_elements=[Intake.dedup_key])
                    .returning(Intake.id)
                ).scalar_one_or_none()
                for pending in group
            ]
        for pending, intake_id in zip(group, ids, strict=True):
            pending.intake_id = intake_id


_writers: weakref.WeakKeyDictionary[sessionmaker[Session], SQLiteGroupCommit] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def _sqlite_writer(sessions: sessionmaker[Session]) -> SQLiteGroupCommit:
    """The group commit of this session factory (one per process and database)."""
    with _writers_lock:
        writer = _writers.get(sessions)
        if writer is None:
            writer = _writers[sessions] = SQLiteGroupCommit(sessions)
        return writer


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

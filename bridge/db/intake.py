"""The intake log in the database: every accepted delivery is one row, committed before the sender
gets its 2xx, and the queries the pipeline and the sweeper find pending deliveries with.

Storing is a single INSERT ... ON CONFLICT DO NOTHING on the delivery's idempotency key (on
PostgreSQL through the key table, in the same statement), so a redelivery (Alertmanager HA peers,
Zabbix retries) is accepted again without being stored twice.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError, StatementError
from sqlalchemy.orm import Session, sessionmaker

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

    A connection found dead (the database restarted since it was last used) is retired with the
    idle ones and the delivery tried once more on a new one: on PostgreSQL the intake keeps its
    own connections (`IntakeConnections`), never pinged per webhook.

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
    connections = intake_connections(engine)
    try:
        connection, generation = connections.take()
    except engine.dialect.loaded_dbapi.Error as exc:  # cannot connect: as SQLAlchemy raises it
        raise _wrapped(engine, exc, params, dead=False) from exc
    try:
        with connection.cursor() as cursor:
            cursor.execute(_POSTGRESQL_INSERT, params)
            found = cursor.fetchone()
    except engine.dialect.loaded_dbapi.Error as exc:
        disconnect = engine.dialect.is_disconnect(exc, connection, None)
        dead = bool(disconnect or connection.closed or connection.broken)
        if dead:
            connections.retire_all()  # its idle siblings most likely died with it (a restart)
            _close_quietly(connection)
        else:
            connections.give_back(connection, generation)
        raise _wrapped(engine, exc, params, dead=dead) from exc
    connections.give_back(connection, generation)
    return None if found is None else int(found[0])


def _wrapped(engine: Engine, exc: Any, params: dict[str, Any], *, dead: bool) -> StatementError:
    """psycopg's `exc` as SQLAlchemy raises it (an OperationalError, an IntegrityError ...)."""
    wrapped: StatementError = DBAPIError.instance(
        _POSTGRESQL_INSERT,
        params,
        exc,
        engine.dialect.loaded_dbapi.Error,
        connection_invalidated=dead,
        dialect=engine.dialect,
    )
    return wrapped


RECYCLE_SECONDS = 1800.0
"""An intake connection older than this is closed rather than used again (as the engine's pool
recycles its own: `pool_recycle`)."""


class IntakeConnections:
    """The PostgreSQL connections the webhooks' INSERT goes on: psycopg connections kept in
    autocommit for this one statement, taken and given back under a plain lock.

    Checking a connection out of SQLAlchemy's pool and back in, switching it to autocommit and
    back, and SQLAlchemy's Connection around it, cost a webhook as much CPU as psycopg's own
    work for the statement (py-spy and a micro-benchmark under bench/sidebyside.py: 160-180 µs
    against 105-115 µs of CPU per statement). A new one is made through the engine (its URL,
    connect arguments, dialect set-up; a pooled connection pinged on the way) and detached from
    its pool. At most `keep` wait idle (the threads storing at once need no more); a connection
    found dead retires the idle ones too, and the caller retries on a new one
    (`store_delivery`)."""

    def __init__(self, engine: Engine, keep: int) -> None:
        self.engine = engine
        self.keep = keep
        self._idle: list[tuple[Any, float]] = []
        """(psycopg connection, when it was made), the most recently used last."""
        self._made: dict[int, float] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def take(self) -> tuple[Any, int]:
        """An autocommit connection and the generation to give it back with."""
        stale = []
        with self._lock:
            generation = self._generation
            while self._idle:
                connection, made = self._idle.pop()
                if time.monotonic() - made < RECYCLE_SECONDS:
                    break
                stale.append(connection)
            else:
                connection = None
        for old in stale:
            self._forget(old)
        if connection is None:
            connection = self._connect()
        return connection, generation

    def give_back(self, connection: Any, generation: int) -> None:
        with self._lock:
            made = self._made.get(id(connection))
            if generation == self._generation and made is not None and len(self._idle) < self.keep:
                self._idle.append((connection, made))
                return
        self._forget(connection)

    def retire_all(self) -> None:
        """Close the idle connections; those in use are closed when given back."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1
        for connection, _ in idle:
            self._forget(connection)

    def _connect(self) -> Any:
        pooled = self.engine.raw_connection()
        connection: Any = pooled.driver_connection
        pooled.detach()  # ours from now on: the pool makes itself another
        try:
            connection.autocommit = True
        except Exception:
            _close_quietly(connection)
            raise
        with self._lock:
            self._made[id(connection)] = time.monotonic()
        return connection

    def _forget(self, connection: Any) -> None:
        with self._lock:
            self._made.pop(id(connection), None)
        _close_quietly(connection)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # already broken: nothing to close cleanly
        log.debug("closing a dead intake connection failed", exc_info=True)


_connections: weakref.WeakKeyDictionary[Engine, IntakeConnections] = weakref.WeakKeyDictionary()
_connections_lock = threading.Lock()


def intake_connections(engine: Engine) -> IntakeConnections:
    """The intake connections of this engine (one set per process and database); closed with
    the engine's pool (`Engine.dispose`)."""
    found = _connections.get(engine)
    if found is not None:
        return found
    with _connections_lock:
        found = _connections.get(engine)
        if found is None:
            size = getattr(engine.pool, "size", None)
            found = _connections[engine] = IntakeConnections(engine, size() if callable(size) else 10)
            event.listen(engine, "engine_disposed", lambda _engine: found.retire_all())
        return found


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
            # One statement built once, run on the session's connection: through the ORM's
            # execute and built per row, each row cost 4-6 times as much (0.5 against 0.1 ms),
            # a tenth of the embedded server's CPU per webhook.
            connection = session.connection()
            ids = [connection.execute(_SQLITE_INSERT, pending.row).scalar_one_or_none() for pending in group]
        for pending, intake_id in zip(group, ids, strict=True):
            pending.intake_id = intake_id


_SQLITE_INSERT = (
    sqlite.insert(Intake).on_conflict_do_nothing(index_elements=[Intake.dedup_key]).returning(Intake.id)
)
"""A delivery's row, or nothing for a redelivery (its idempotency key already stored)."""


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
    # Rows a deciding transaction holds (FOR UPDATE) are skipped: under a backlog the next
    # worker parses the batch after the one being decided while it waits for the deciding turn,
    # instead of parsing the same batch again and then its own once the turn is free. The weakest
    # row lock, released when this read's transaction ends; SQLite has none (one writer at a time).
    query = (
        query.order_by(Intake.id).limit(limit).with_for_update(read=True, key_share=True, skip_locked=True)
    )
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

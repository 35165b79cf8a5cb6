"""Retention: what bridge keeps and for how long, and the prune that enforces it, as a periodic
job of the workers and as `bridge db prune [--dry-run]`.

A prune runs under a database lease (a `lease` row in the timers table, taken with a conditional
update) so that one process prunes at a time, and works in small steps, each its own short
transaction (a batch of `batch` rows, or one week of the intake log detached concurrently and
then dropped), with
a pause between steps on SQLite so that waiting webhooks take the write lock. The periodic job
stops after `budget` and carries on at its next run; it also creates the intake log's weekly
partitions ahead of time on PostgreSQL. See `bridge.db.retention` for what each step removes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db import retention
from bridge.db.models import Timer
from bridge.db.retention import Removed
from bridge.settings import Settings

log = logging.getLogger(__name__)

LEASE = "lease"
PRUNE = "prune"
WEEKS_AHEAD = 4
PAUSE = 0.01
"""Seconds a prune sleeps between batches at least; otherwise as long as the batch took, so that
a prune keeps at most half of a core (its own and PostgreSQL's work together) and leaves the rest
to webhooks: on a small machine its batched deletes otherwise compete with them for the CPU (a
prune is never in a hurry). On SQLite the pause is also when waiting webhooks take the write lock."""
KEY_BATCHES = 20
"""The idempotency keys of a dropped week go `batch` x this at a time: a key row is small and
no webhook waits on an old one's lock, and a busy week has over 100,000 of them."""
DETACH_ATTEMPTS = 5
"""A week's DETACH ... CONCURRENTLY is tried this often, a little apart, before it is left for
the next run."""
DETACH_LOCK_TIMEOUT_MS = 2000
"""How long a detach may wait for its lock and for the queries that still see the week: it
holds only SHARE UPDATE EXCLUSIVE meanwhile, which no webhook waits on, so it can afford to."""


@dataclass(frozen=True, slots=True)
class Retention:
    """How long each kind of row is kept (None: forever)."""

    intake: timedelta | None
    alerts: timedelta | None
    delivered: timedelta | None

    @classmethod
    def from_settings(cls, settings: Settings) -> Retention:
        def keep(days: timedelta) -> timedelta | None:
            return days if days > timedelta(0) else None

        return cls(
            keep(settings.retain_intake), keep(settings.retain_alerts), keep(settings.retain_delivered)
        )


@dataclass
class TableResult:
    table: str
    cutoff: datetime | None
    rows: int = 0
    bytes: int = 0
    partitions: int = 0  # weeks of the intake log dropped whole (PostgreSQL)
    partitions_left: int = 0  # weeks due to go whose detach did not get its lock this time

    def add(self, removed: Removed) -> None:
        self.rows += removed.rows
        self.bytes += removed.bytes


@dataclass
class PruneResult:
    dry_run: bool
    tables: list[TableResult] = field(default_factory=list)
    finished: bool = True  # False: stopped at the budget, or another process holds the lease
    busy: bool = False  # another process is pruning
    partitions_created: int = 0
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def bytes(self) -> int:
        return sum(t.bytes for t in self.tables)

    def __str__(self) -> str:
        if self.busy:
            return "another process is pruning"
        done = (
            ", ".join(f"{t.table} {t.rows} rows ({t.bytes} bytes)" for t in self.tables if t.rows)
            or "nothing"
        )
        return f"{'would remove' if self.dry_run else 'removed'} {done} in {self.seconds:.1f}s" + (
            "" if self.finished else " (more next run)"
        )


class Pruner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        keep: Retention,
        batch: int = 500,
        *,
        yielding: bool = True,
    ) -> None:
        """`yielding`: sleep between batches as long as each took (see PAUSE); off only where
        nothing else runs and the pace does not matter (tests of what is removed)."""
        self.sessions = sessions
        self.clock = clock
        self.keep = keep
        self.batch = batch
        self.yielding = yielding
        with sessions() as session:
            self.postgres = session.get_bind().dialect.name == "postgresql"

    # -- the periodic job and the command -------------------------------------------------------

    def run(self, budget: timedelta | None = None, *, dry_run: bool = False) -> PruneResult:
        """Prune what the retention says may go (or count it, `dry_run`), for at most `budget`."""
        started = time.monotonic()
        deadline = None if budget is None else started + budget.total_seconds()
        result = PruneResult(dry_run)
        lease = budget or timedelta(hours=1)
        if not dry_run and not self._take_lease(lease):
            result.busy, result.finished = True, False
            return result
        try:
            if self.postgres and not dry_run:
                result.partitions_created = self.create_partitions()
            now = self.clock.now()
            steps: list[tuple[TableResult, Callable[[TableResult, float | None], bool]]] = []
            if self.keep.intake is not None:
                steps.append((TableResult("intake", now - self.keep.intake), self._intake))
            if self.keep.alerts is not None:
                steps.append((TableResult("alerts", now - self.keep.alerts), self._alerts))
            if self.keep.delivered is not None:
                for table in ("notifications", "outbox"):
                    steps.append((TableResult(table, now - self.keep.delivered), self._done(table)))
            for table_result, step in steps:
                result.tables.append(table_result)
                if dry_run:
                    self._count(table_result)
                elif not step(table_result, deadline):
                    result.finished = False
                    break
                if not dry_run:
                    self._renew_lease(lease)
            if any(t.partitions_left for t in result.tables):
                result.finished = False
            if not self.postgres and not dry_run and result.rows:
                with self.sessions() as session, session.begin():
                    retention.incremental_vacuum(session)
        finally:
            if not dry_run:
                self._give_back_lease()
        result.seconds = time.monotonic() - started
        return result

    def create_partitions(self, weeks_ahead: int = WEEKS_AHEAD) -> int:
        """PostgreSQL: the intake log's partitions for this week and `weeks_ahead` more."""
        first = retention.week_start(self.clock.now())
        created = 0
        for n in range(weeks_ahead + 1):
            try:
                with self.sessions() as session, session.begin():
                    created += retention.create_partition(session, first + n * retention.WEEK)
            except OperationalError as exc:  # a lock timeout: the next run (or the webhook) tries again
                log.warning("intake partition not created now: %s", exc.__class__.__name__)
        return created

    # -- the steps: each returns False when the budget ran out ----------------------------------

    def _batches(
        self,
        result: TableResult,
        deadline: float | None,
        one: Callable[[Session], Removed],
        size: int | None = None,
    ) -> bool:
        """Run `one` (a batch of at most `size` rows, the prune's batch unless said) until a batch
        comes back short."""
        while True:
            if deadline is not None and time.monotonic() > deadline:
                return False
            started = time.monotonic()
            with self.sessions() as session, session.begin():
                removed = one(session)
            result.add(removed)
            if removed.rows < (size or self.batch):
                return True
            time.sleep(max(PAUSE, time.monotonic() - started) if self.yielding else PAUSE)

    def _intake(self, result: TableResult, deadline: float | None) -> bool:
        cutoff = result.cutoff
        assert cutoff is not None
        if not self.postgres:
            return self._batches(result, deadline, self._done_intake("intake", cutoff))
        self._finish_detached(result)
        tables = []
        with self.sessions() as session:
            expired = [p for p in retention.partitions(session) if p.end <= cutoff]
        for partition in expired:
            if deadline is not None and time.monotonic() > deadline:
                return False
            with self.sessions() as session:
                if retention.partition_unfinished(session, partition):
                    tables.append(partition.name)  # keep the week; delete its done rows below
                    continue
            if not self._detach(partition):
                result.partitions_left += 1  # its lock was not had: the next run tries again
                continue
            self._drop(partition, result)
        with self.sessions() as session:
            kept = retention.partitions(session)
        if kept:  # keys older than every week: left by a prune that stopped after a drop
            self._batches(
                TableResult("intake_keys", None),
                None,
                self._keys_of(None, kept[0].start),
                self.batch * KEY_BATCHES,
            )
        return all(self._batches(result, deadline, self._done_intake(table, cutoff)) for table in tables)

    def _done_intake(self, table: str, cutoff: datetime) -> Callable[[Session], Removed]:
        def one(session: Session) -> Removed:
            return retention.delete_intake(session, table, cutoff, self.batch)

        return one

    def _autocommit(self) -> Connection:
        with self.sessions() as session:
            engine = session.get_bind()
        assert isinstance(engine, Engine)
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    def _detach(self, partition: retention.Partition) -> bool:
        """DETACH ... CONCURRENTLY, tried DETACH_ATTEMPTS times; True once it is a table of its own."""
        for attempt in range(DETACH_ATTEMPTS):
            with self._autocommit() as connection:
                try:
                    retention.detach_partition(connection, partition, DETACH_LOCK_TIMEOUT_MS)
                    return True
                except OperationalError as exc:
                    log.info("%s not detached yet: %s", partition.name, exc.__class__.__name__)
            with self.sessions() as session:  # the first phase done: only FINALIZE is left
                if partition in retention.detach_pending(session):
                    return self._finalize(partition)
            time.sleep(0.2 * (attempt + 1))
        log.warning("%s not detached now (its lock was not had); the next prune tries again", partition.name)
        return False

    def _finalize(self, partition: retention.Partition) -> bool:
        for attempt in range(DETACH_ATTEMPTS):
            with self._autocommit() as connection:
                try:
                    retention.finalize_detach(connection, partition, DETACH_LOCK_TIMEOUT_MS)
                    return True
                except OperationalError as exc:
                    log.info("%s not finalized yet: %s", partition.name, exc.__class__.__name__)
            time.sleep(0.2 * (attempt + 1))
        log.warning("%s detach not finalized now; the next prune tries again", partition.name)
        return False

    def _drop(self, partition: retention.Partition, result: TableResult) -> None:
        """Drop a detached week and its keys, unless it holds something unfinished after all (a
        delivery parked between the check and the detach): then it goes back into the intake log."""
        with self.sessions() as session, session.begin():
            if retention.partition_unfinished(session, partition):
                log.warning("%s holds unfinished deliveries: attached again", partition.name)
                retention.reattach_partition(session, partition, retention.DROP_LOCK_TIMEOUT_MS)
                return
            result.add(retention.drop_detached(session, partition))
        result.partitions += 1
        self._batches(
            TableResult("intake_keys", None),
            None,
            self._keys_of(partition.start, partition.end),
            self.batch * KEY_BATCHES,
        )

    def _finish_detached(self, result: TableResult) -> None:
        """What an earlier prune left half done (a crash, a lock timeout): a week pending detach
        is finalized, a detached week is counted and dropped, with its keys."""
        with self.sessions() as session:
            pending = retention.detach_pending(session)
        for partition in pending:
            if not self._finalize(partition):
                result.partitions_left += 1
        with self.sessions() as session:
            left = retention.detached(session)
        for partition in left:
            self._drop(partition, result)

    def _keys_of(self, start: datetime | None, end: datetime) -> Callable[[Session], Removed]:
        def one(session: Session) -> Removed:
            return Removed(retention.delete_keys_between(session, start, end, self.batch * KEY_BATCHES), 0)

        return one

    def _alerts(self, result: TableResult, deadline: float | None) -> bool:
        cutoff = result.cutoff
        assert cutoff is not None
        return self._batches(result, deadline, lambda s: retention.delete_alerts(s, cutoff, self.batch))

    def _done(self, table: str) -> Callable[[TableResult, float | None], bool]:
        def step(result: TableResult, deadline: float | None) -> bool:
            cutoff = result.cutoff
            assert cutoff is not None
            return self._batches(
                result, deadline, lambda s: retention.delete_done(s, table, cutoff, self.batch)
            )

        return step

    def _count(self, result: TableResult) -> None:
        cutoff = result.cutoff
        assert cutoff is not None
        with self.sessions() as session:
            if result.table == "alerts":
                result.add(retention.delete_alerts(session, cutoff, 0, dry=True))
            elif result.table != "intake":
                result.add(retention.delete_done(session, result.table, cutoff, 0, dry=True))
            elif not self.postgres:
                result.add(retention.delete_intake(session, "intake", cutoff, 0, dry=True))
            else:
                tables = []
                for partition in retention.partitions(session):
                    if partition.end > cutoff:
                        continue
                    if retention.partition_unfinished(session, partition):
                        tables.append(partition.name)
                    else:
                        result.add(retention.partition_size(session, partition))
                        result.partitions += 1
                for table in tables:
                    result.add(retention.delete_intake(session, table, cutoff, 0, dry=True))

    # -- the lease ------------------------------------------------------------------------------

    def _take_lease(self, length: timedelta) -> bool:
        """Take the prune lease unless another process holds one that has not run out."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            insert = postgresql.insert if self.postgres else sqlite.insert
            session.execute(
                insert(Timer)
                .values(kind=LEASE, subject=PRUNE, due_at=now - timedelta(seconds=1))
                .on_conflict_do_nothing(index_elements=[Timer.kind, Timer.subject])
            )
            taken = session.execute(
                update(Timer)
                .where(Timer.kind == LEASE, Timer.subject == PRUNE, Timer.due_at <= now)
                .values(due_at=now + length)
            )
            return bool(taken.rowcount)  # type: ignore[attr-defined]

    def _renew_lease(self, length: timedelta) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(Timer)
                .where(Timer.kind == LEASE, Timer.subject == PRUNE)
                .values(due_at=self.clock.now() + length)
            )

    def _give_back_lease(self) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(Timer)
                .where(Timer.kind == LEASE, Timer.subject == PRUNE)
                .values(due_at=self.clock.now() - timedelta(seconds=1))
            )

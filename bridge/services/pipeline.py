"""Intake rows -> alerts -> engine decisions -> ticketing. Orchestration only.

Pending deliveries are processed in batches, one transaction each: their alerts in arrival
order, each decided by the engine with `now` = when the delivery was received (so a backlog is
judged as it would have been in time), then the rows are marked done in the same commit. Either
all of it happens or none does: a crash mid-batch leaves the rows pending for the next attempt.

A transaction is kept short (BATCH_ALERTS alerts, SLICE_SECONDS of deciding): on SQLite every
webhook and action waits for the one write lock while it runs. A delivery larger than that (a
10,000-alert Alertmanager group) is decided in slices, its `progress` (alerts decided) committed
with each slice's decisions, so a crash resumes where the last slice ended.

When a batch fails, what failed decides what happens (`bridge.db.failures`): a database that is
unavailable or busy leaves everything pending and the error goes to the caller, who retries
later; anything else is the data's (or a bug it triggers), so the batch is bisected until the
delivery that fails alone is found, and the others go through. A delivery the database refuses
(a DataError: NUL in text, a value too long) is parked as `failed` with its error at once;
one failing otherwise is retried and parked after MAX_ATTEMPTS. Never dropped silently.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from time import perf_counter
from typing import Any, TypeVar

from sqlalchemy import Row, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Alert, Source, Status
from bridge.clock import Clock
from bridge.db import timeline, timers
from bridge.db.failures import Failure, classify, describe
from bridge.db.intake import latest_pending_id, pending_ids
from bridge.db.models import AlertGroup, AlertRow, Intake, IntakeStatus, SilenceRow
from bridge.db.timers import claim as claim_timer
from bridge.dedup.engine import Engine, EventClass
from bridge.dedup.engine import classify as classify_event
from bridge.dedup.state import Context, Decision, Disposition, EngineTimer, Outcome
from bridge.dedup.suppression import InhibitorEntry, InhibitorIndex, inhibitor_entry
from bridge.errors import PayloadError
from bridge.services.dispatch import Fired, TimerHandler
from bridge.services.hooks import IncidentHooks
from bridge.services.live import LiveRules
from bridge.services.metrics import Suppression, suppression_of
from bridge.services.notifications import remember_locales
from bridge.services.silences import silence_from_row
from bridge.services.state_store import StateStore, state_of
from bridge.sources import Delivery, parse_delivery

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
"""A delivery failing this many times is parked as `failed` (visible, retryable by hand)."""
CONFLICT_RETRIES = 5
"""Concurrent workers may collide (a deadlock, two creating one group): the loser retries."""
BATCH_ALERTS = {"sqlite": 500, "postgresql": 2000}
"""Alerts per transaction at most. Bounds how long a batch holds its locks: on SQLite the
webhooks wait for the one write lock, so a long batch would make them time out instead of
answering, and what a batch loads beyond what its 0.1 s slice decides is loaded in vain. On
PostgreSQL a batch holds only its groups' rows: 2,000 spreads a transaction's fixed costs (the
turn, the pending query, silences and inhibitors, the commit) wider (bench.stormscale's
dedup-heavy storm: 4,127-4,288 alerts/s at 500, 4,862-4,879 at 2,000, 4,693 at 5,000)."""
SLICE_SECONDS = {"sqlite": 0.1, "postgresql": 1.0}
"""Deciding stops after this long and the transaction commits what it decided (at least one
alert). On SQLite every writer waits for the one write lock meanwhile, and writing the slice
out takes about as long again: a webhook waits a few tenths of a second at worst, however large
the delivery (bench/storm.py). On PostgreSQL only the rows of the groups decided are held, so
slices are longer: fewer commits, more throughput (bench/pipeline.py)."""
PARSED_KEPT = 20_000
"""Alerts of parsed deliveries kept between the slices of a batch, at most (parsing the 3 MB
body of a 10,000-alert delivery takes 0.25 s; keeping it, some 30 MB)."""

T = TypeVar("T")

Slice = tuple[Intake, tuple[Alert, ...], tuple[Alert, ...]]
"""A pending delivery's row, the alerts of it a transaction decides, and all it has left to
decide (those and any after them)."""


@dataclass
class BatchResult:
    deliveries: int = 0
    """Deliveries finished: decided in full, or failed."""
    alerts: int = 0
    failed: int = 0
    sliced: int = 0
    """Deliveries decided in part (a slice of a large one): still pending, for the next batch."""
    left: int = 0
    """Deliveries of the batch left pending for the next transaction (decided in part, or not
    reached before the slice's time or room ran out)."""
    behind: bool = False
    """Nothing was decided: an older delivery is still pending, and deliveries are decided in
    the order they arrived. Ask again from the oldest."""
    busy: bool = False
    """Nothing was decided: another transaction held the deciding turn, and the caller asked not
    to wait for it (a webhook answering at once)."""
    outcomes: Counter[Outcome] = field(default_factory=Counter)

    def merge(self, other: BatchResult) -> None:
        self.deliveries += other.deliveries
        self.alerts += other.alerts
        self.failed += other.failed
        self.sliced += other.sliced
        self.left += other.left
        self.behind = self.behind or other.behind
        self.busy = self.busy or other.busy
        self.outcomes.update(other.outcomes)

    @property
    def progressed(self) -> bool:
        """Something was done: worth asking for the next batch at once."""
        return bool(self.deliveries or self.sliced)


class Pipeline:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        rules: LiveRules,
        clock: Clock,
        on_outcomes: Callable[[Counter[Outcome]], None] | None = None,
        hooks: IncidentHooks | None = None,
        ack_from_source: bool = True,
        slice_seconds: float | None = None,
        on_batch: Callable[[Counter[tuple[Suppression, str]], float], None] | None = None,
    ) -> None:
        """`slice_seconds`: how long a transaction decides at most (default: SLICE_SECONDS of
        the database's kind). `on_batch(suppressed, seconds)` hears of each committed batch
        (the metrics)."""
        self.sessions = sessions
        self.rules = rules
        self.clock = clock
        self.on_outcomes = on_outcomes
        self.on_batch = on_batch
        self.hooks = hooks
        self.ack_from_source = ack_from_source
        self.slice_seconds = slice_seconds
        self._parsed: dict[int, Delivery] = {}  # deliveries parsed and not yet decided in full
        self._parsed_lock = threading.Lock()
        self._left_to_worker_at: datetime | None = None
        """When `process_now` last found that deciding at once would have to wait."""
        self._inhibitors = InhibitorsKept()

    # -- deliveries -----------------------------------------------------------------------------

    def process_pending(self, limit: int = 200, max_alerts: int | None = None) -> BatchResult:
        """Process pending deliveries, oldest first: up to `limit` of them holding at most
        `max_alerts` alerts (default BATCH_ALERTS; a single delivery larger than that is decided
        in slices: this call decides one slice of it)."""
        max_alerts = self._batch_alerts() if max_alerts is None else max_alerts
        with self.sessions() as session:
            ids = pending_ids(session, limit, max_alerts)
        return self.process(ids, max_alerts) if ids else BatchResult()

    def process_through(self, intake_id: int, limit: int = 200) -> BatchResult:
        """What a queued job does: process delivery `intake_id` and every delivery pending when
        the job starts, oldest first, in batches. So a delivery left behind (its worker died, its
        job was lost) goes through with the next job rather than after it, and under a backlog
        one job takes batches while the jobs queued behind it find their deliveries done. Rows
        another worker holds are its to finish (it then processes the next batch); a delivery
        that failed before is left to the sweeper unless it is this job's own."""
        with self.sessions() as session:
            upto = max(intake_id, latest_pending_id(session) or 0)
        total = BatchResult()
        after = 0
        while True:
            with self.sessions() as session:
                ids = pending_ids(
                    session, limit, self._batch_alerts(), upto=upto, after=after, fresh_only_but=intake_id
                )
            if not ids:
                return total
            result = self.process(ids)
            total.merge(result)
            if result.behind:
                after = 0  # an older delivery came free (another worker left it pending): it goes first
            elif not result.left:  # some left pending for the next transaction: ask again from here
                after = ids[-1]

    def process(
        self,
        ids: list[int],
        max_alerts: int | None = None,
        *,
        in_order: bool = True,
        answering: Delivery | None = None,
    ) -> BatchResult:
        """Process these deliveries (those still pending; a large one only a slice of it);
        `answering`: the one delivery of `ids`, parsed, whose webhook waits to answer with its
        alerts' incident: it never waits for the deciding turn (`BatchResult.busy`).

        Raises when the database is unavailable or busy (everything stays pending). Otherwise a
        failing batch is bisected: the deliveries that go through do, and the one that fails
        alone is recorded (`_record_failure`)."""
        max_alerts = self._batch_alerts() if max_alerts is None else max_alerts
        try:
            return self._retrying(lambda: self._process(ids, max_alerts, in_order, answering))
        except Exception as exc:
            failure = classify(exc)
            if failure.waits:
                raise  # the database, not the data: leave everything pending, the caller retries later
            if len(ids) == 1:
                return self._record_failure(ids[0], exc, failure)
            log.warning(
                "a batch of %d deliveries failed (%s); bisecting it", len(ids), describe(exc), exc_info=exc
            )
            half = len(ids) // 2
            # Exactly these ids, whatever is older: a failure must be blamed on the delivery that fails.
            total = self.process(ids[:half], max_alerts, in_order=False)
            total.merge(self.process(ids[half:], max_alerts, in_order=False))
            return total

    def _process(
        self, ids: list[int], max_alerts: int, in_order: bool = True, answering: Delivery | None = None
    ) -> BatchResult:
        result = BatchResult()
        began = perf_counter()
        engine = self.rules.engine
        parsed: dict[int, Delivery | PayloadError]
        if answering is None:
            parsed = self._parse(ids)  # before the transaction: parsing holds no lock
        else:  # parsed by the webhook, and not kept: a worker taking it over parses it itself
            parsed = {ids[0]: answering}
            if in_order and self._behind_before_writing(ids):
                return BatchResult(left=len(ids), behind=True)
        batch: Batch | None = None
        with self.sessions() as session, session.begin():
            if not take_deciding_turn(session, wait=answering is None):
                return BatchResult(left=len(ids), busy=True)
            if in_order and older_fresh_pending(session, min(ids), ids):
                return BatchResult(left=len(ids), behind=True)
            query = (
                select(Intake)
                .where(Intake.id.in_(ids), Intake.status == IntakeStatus.PENDING)
                .order_by(Intake.id)
                .with_for_update(skip_locked=True)
            )
            rows = list(session.scalars(query))
            work: list[Slice] = []
            room = max(1, max_alerts)
            for row in rows:
                delivery = parsed.get(row.id)
                if isinstance(delivery, PayloadError):  # it parsed when accepted: a parser change
                    row.status, row.error, row.attempts = IntakeStatus.FAILED, str(delivery), row.attempts + 1
                    result.failed += 1
                    result.deliveries += 1
                    continue
                if delivery is None:
                    continue  # changed since it was read: another worker took it
                if room <= 0:
                    result.left += 1  # for the next transaction
                    continue
                left = delivery.alerts[row.progress :]
                chosen = left[:room]
                room -= len(chosen)
                work.append((row, chosen, left))
            if work:  # else another worker decided them while this one waited for the turn
                batch = self._decide(session, engine, work, result, answering)
        # Forget what this transaction finished and what it did not get: another worker decided
        # those (or is deciding them). Kept, they stayed till PARSED_KEPT pushed them out: with
        # two workers parsing the same pending ids, tens of MB of dead deliveries per worker.
        taken = {row.id for row in rows}
        self._forget_parsed(
            [i for i in ids if i not in taken] + [r.id for r in rows if r.status != IntakeStatus.PENDING]
        )
        if self.on_outcomes is not None:
            self.on_outcomes(result.outcomes)
        if self.on_batch is not None and batch is not None and result.progressed:
            self.on_batch(batch.suppressed, perf_counter() - began)
        return result

    def _decide(
        self,
        session: Session,
        engine: Engine,
        work: list[Slice],
        result: BatchResult,
        answering: Delivery | None,
    ) -> Batch:
        """Decide `work` in arrival order, for at most the slice's time, counting into `result`;
        the rows' progress and status follow. Returns the batch, for what it suppressed."""
        budget = self._slice_seconds()
        store = self._store(session, engine)
        all_alerts = [a for _, chosen, _ in work for a in chosen]
        if answering is not None:
            store.answering = frozenset(engine.identity(a) for a in all_alerts)
        with session.no_autoflush:  # one flush at commit, not one per query
            store.preload_alerts(engine.identity(a) for a in all_alerts)
            changing, unlikely = self._changing(store, all_alerts)
            store.hold_alerts(changing)
            store.defer_alerts(unlikely)
            store.preload_groups(self._likely_groups(store, all_alerts))
            # An inhibiting alert resolving releases what it held: read those in one query.
            store.preload_held(
                f"inhibit:{engine.identity(a)}" for a in all_alerts if a.status == Status.RESOLVED
            )
            batch = Batch(store, engine, self.clock.now(), self._inhibitors)
            started = perf_counter()
            for reached, (row, chosen, left) in enumerate(work, 1):
                decided = 0
                total = row.progress + len(left)
                for decision in batch.decide_delivery(chosen, row.received_at, left):
                    result.outcomes[decision.outcome] += 1
                    decided += 1
                    if perf_counter() - started > budget:
                        break
                result.alerts += decided
                row.progress += decided
                row.error = None
                if row.progress >= total:
                    row.status = IntakeStatus.DONE
                    row.processed_at = self.clock.now()
                    result.deliveries += 1
                else:
                    result.sliced += 1
                    result.left += 1
                if perf_counter() - started > budget:
                    result.left += len(work) - reached  # the rest waits for the next transaction
                    break
            store.finish()
        return batch

    def _parse(self, ids: list[int]) -> dict[int, Delivery | PayloadError]:
        """The pending deliveries among `ids`, parsed (or why they no longer parse)."""
        with self._parsed_lock:
            kept = {i: self._parsed[i] for i in ids if i in self._parsed}
        parsed: dict[int, Delivery | PayloadError] = dict(kept)
        missing = [i for i in ids if i not in kept]
        if missing:
            with self.sessions() as session:  # a read: on SQLite it does not wait for the writer
                rows = session.execute(
                    select(Intake.id, Intake.source, Intake.body, Intake.received_at).where(
                        Intake.id.in_(missing), Intake.status == IntakeStatus.PENDING
                    )
                )
                for intake_id, source, body, received_at in rows:
                    try:
                        parsed[intake_id] = delivery = parse_delivery(source, body, received_at)
                    except PayloadError as exc:
                        parsed[intake_id] = exc
                        continue
                    with self._parsed_lock:  # kept till it is decided: a slice may end before it
                        self._parsed[intake_id] = delivery
                        while len(self._parsed) > 1 and self._kept_alerts() > PARSED_KEPT:
                            self._parsed.pop(next(iter(self._parsed)))  # the oldest kept
        return parsed

    def _kept_alerts(self) -> int:
        return sum(len(d.alerts) for d in self._parsed.values())

    def _forget_parsed(self, ids: Iterable[int]) -> None:
        with self._parsed_lock:
            for intake_id in ids:
                self._parsed.pop(intake_id, None)

    def _changing(self, store: StateStore, alerts: list[Alert]) -> tuple[list[str], list[str]]:
        """The stored alerts of a batch whose events are more than plain repeats of their stored
        state (`Engine.plain_repeat`), whose decisions may change them: those whose events say
        something new of them (their ORM objects are loaded up front, in one query), and those
        whose events repeat what is stored, which most likely change nothing (a storm's
        inhibited and dropped alerts: loaded together if one is needed). A plain repeat needs no
        object. An alert an earlier decision of the batch changed already has its object; any
        other is loaded when needed (`StateStore.alert_row`)."""
        engine = self.rules.engine
        changing, unlikely = [], []
        for alert in alerts:
            fingerprint = engine.identity(alert)
            known = store.alert_state(fingerprint)
            if known is None or engine.plain_repeat(alert, known) is not None:
                continue
            if (
                classify_event(alert, known) is EventClass.SAME
                and alert.status is known.status
                and alert.severity is known.severity
                and alert.update is None
            ):
                unlikely.append(fingerprint)
            else:
                changing.append(fingerprint)
        return changing, unlikely

    def _likely_groups(self, store: StateStore, alerts: list[Alert]) -> set[str]:
        """The groups a batch will touch, to lock them up front in one sorted query."""
        engine = self.rules.engine
        keys = set(engine.storm_keys()) if alerts else set()
        for alert in alerts:
            known = store.alert_state(engine.identity(alert))
            if known is not None and known.group_key is not None:
                keys.add(known.group_key)
            routing = engine.route(alert, known)
            if routing is not None and routing.target is not None:
                keys.add(routing.target)
        return keys

    def _record_failure(self, intake_id: int, exc: Exception, failure: Failure) -> BatchResult:
        """Delivery `intake_id` failed alone: count the attempt and keep the error on its row.
        One the database refuses is parked at once (it would be refused again); one failing
        otherwise (a bug it triggers, a conflict that persists) after MAX_ATTEMPTS."""
        error = describe(exc)
        log.error("delivery %d failed: %s", intake_id, error, exc_info=exc)
        self._forget_parsed([intake_id])
        with self.sessions() as session, session.begin():
            row = session.get(Intake, intake_id)
            if row is None or row.status != IntakeStatus.PENDING:
                return BatchResult()
            row.attempts += 1
            row.error = error
            if failure is Failure.REFUSED or row.attempts >= MAX_ATTEMPTS:
                row.status = IntakeStatus.FAILED
                log.error("delivery %d parked as failed after %d attempts", intake_id, row.attempts)
                return BatchResult(deliveries=1, failed=1)
        return BatchResult(deliveries=1)

    # -- timers ---------------------------------------------------------------------------------

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """The engine's timers (holds, resolve_after, flapping, heartbeats, releases), for the tick."""
        handlers: dict[str, TimerHandler] = {EngineTimer.RELEASE.value: self._fire_release}
        for kind in GROUP_TIMERS:
            handlers[kind.value] = partial(self._fire_group_timer, kind)
        return handlers

    def process_now(self, intake_id: int, delivery: Delivery) -> bool:
        """Decide one delivery, just stored and parsed, in the caller's thread (to answer a Zabbix
        delivery with its incident), if that needs no waiting. False if it is still pending, for
        the worker: an older delivery is still pending and goes first (deliveries are decided in
        arrival order), another transaction holds the deciding turn (a worker deciding a slice of
        a backlog, for up to SLICE_SECONDS), or deciding it failed. Zabbix sends one webhook at a
        time per alerter: one waiting for a worker's slice holds back every alert behind it.

        Once it found it would have to wait, it does not ask again for a slice's time: the backlog
        or the slice is most likely still there, the worker decides a storm's deliveries in
        batches anyway, and asking costs the webhook a transaction, some 40% of its CPU (py-spy,
        bench.sidebyside zbx_unique)."""
        now = self.clock.now()
        left_at = self._left_to_worker_at
        if left_at is not None and 0 <= (now - left_at).total_seconds() < self._slice_seconds():
            return False
        try:
            result = self.process([intake_id], answering=delivery)
        except Exception:
            log.exception("processing delivery %d at once failed; the worker will retry it", intake_id)
            return False
        if result.behind or result.busy:
            self._left_to_worker_at = now
            return False
        return True

    def _slice_seconds(self) -> float:
        """How long a transaction decides at most (`slice_seconds`, else SLICE_SECONDS)."""
        if self.slice_seconds is not None:
            return self.slice_seconds
        dialect = self.sessions.kw["bind"].dialect.name
        return SLICE_SECONDS.get(dialect, min(SLICE_SECONDS.values()))

    def _batch_alerts(self) -> int:
        """Alerts per transaction at most (BATCH_ALERTS of the database's kind)."""
        dialect = self.sessions.kw["bind"].dialect.name
        return BATCH_ALERTS.get(dialect, min(BATCH_ALERTS.values()))

    def _behind_before_writing(self, ids: list[int]) -> bool:
        """An older delivery is pending (`older_fresh_pending`), asked before the write
        transaction: on SQLite that begins by waiting for the write lock, which a worker holds
        for a slice at a time under a backlog. PostgreSQL does not wait to begin, and asks in it."""
        if self.sessions.kw["bind"].dialect.name == "postgresql":
            return False
        with self.sessions() as session:  # a read: it does not wait for the writer
            return older_fresh_pending(session, min(ids), ids)

    def _fire_release(self, key: str, now: datetime) -> Fired:
        """A maintenance window or silence ended: decide again what it held back and still fires."""
        return self._retrying(partial(self._release, key, now))

    def _release(self, key: str, now: datetime) -> Fired:
        engine = self.rules.engine
        with self.sessions() as session, session.begin():
            claimed = claim_timer(session, EngineTimer.RELEASE.value, key, now)
            if claimed is None:
                return Fired.GONE
            store = self._store(session, engine)
            with session.no_autoflush:
                Batch(store, engine, claimed).release(key, claimed)
                store.finish()
        return Fired.FIRED

    def _fire_group_timer(self, kind: EngineTimer, key: str, now: datetime) -> Fired:
        return self._retrying(partial(self._group_timer, kind, key, now))

    def _group_timer(self, kind: EngineTimer, key: str, now: datetime) -> Fired:
        """Lock the group, then the timer (the order deliveries lock them in, so concurrent workers
        cannot deadlock); a group another worker holds is left for the next tick, not waited on."""
        engine = self.rules.engine
        with self.sessions() as session, session.begin():
            if _group_is_busy(session, key):
                return Fired.BUSY
            store = self._store(session, engine)
            group = store.group_state(key)
            due = claim_timer(session, kind.value, key, now)
            if due is None:
                return Fired.GONE  # another worker fired it, or it was moved later
            if group is None:
                return Fired.FIRED
            # Decide as of when it was due: a late tick must not move when an incident opened or resolved.
            decision = engine.on_timer(kind, group, due)
            with session.no_autoflush:
                store.apply(decision, None, due)
                Batch(store, engine, due).released(decision, due)
                store.finish()
            if self.on_outcomes is not None and decision.outcome is not Outcome.NOTHING:
                self.on_outcomes(Counter([decision.outcome]))
        return Fired.FIRED

    # -- helpers --------------------------------------------------------------------------------

    def _store(self, session: Session, engine: Engine) -> StateStore:
        """The deciding transaction's store. Its timeline entries (the rules' and the hooks')
        are written together before the commit: nothing in it reads the timeline."""
        timeline.buffer(session)
        timers.keep_cancels(session)  # a storm's last round resolves hundreds of incidents
        remember_locales(session)  # the people paged: asked once per transaction, not per incident
        return StateStore(session, engine, self.hooks, self.ack_from_source)

    @staticmethod
    def _retrying(work: Callable[[], T]) -> T:
        for attempt in range(CONFLICT_RETRIES):
            try:
                return work()
            except DBAPIError as exc:
                if attempt == CONFLICT_RETRIES - 1 or classify(exc) is not Failure.CONFLICT:
                    raise
                log.info("write conflict (%s), retrying", describe(exc))
        raise AssertionError("unreachable")


DECIDING_LOCK = 0x62726467
"""PostgreSQL advisory lock key ("brdg") that deciding transactions take in turn."""


def take_deciding_turn(session: Session, wait: bool = True) -> bool:
    """Deciding transactions of every worker take turns (PostgreSQL; SQLite has one writer).
    Without `wait`, False at once when another transaction holds the turn or waits for it.

    Deliveries must be decided in the order they arrived: a recovery decided before the problem
    it ends would make the problem a stale repeat of an ended occurrence, and nobody would be
    paged for it. Row locks alone do not keep that order: a worker skips the rows another holds
    and takes later ones, and the groups of new alerts have no rows to lock yet. The turn is held
    until the commit; parsing, the slow part, happens before it."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DECIDING_LOCK})
        return True
    # Never granted ahead of a transaction already waiting for the turn: a worker is not overtaken.
    taken = session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": DECIDING_LOCK})
    return bool(taken)


def older_fresh_pending(session: Session, first: int, ids: list[int]) -> bool:
    """A delivery older than `first`, not among `ids` and never failed, is still pending (one
    that failed before waits for the sweeper and does not hold the others back)."""
    older = session.scalar(
        select(Intake.id)
        .where(
            Intake.id < first,
            Intake.id.not_in(ids),
            Intake.status == IntakeStatus.PENDING,
            Intake.attempts == 0,
        )
        .limit(1)
    )
    return older is not None


GROUP_TIMERS = (EngineTimer.HOLD, EngineTimer.RESOLVE, EngineTimer.FLAPPING, EngineTimer.HEARTBEAT)
"""Timers about one group of alerts: the engine decides what they mean (`Engine.on_timer`)."""


def _group_is_busy(session: Session, key: str) -> bool:
    """Another transaction holds the group's row (PostgreSQL; SQLite has one writer anyway)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    mine = session.scalar(
        select(AlertGroup.key).where(AlertGroup.key == key).with_for_update(skip_locked=True)
    )
    if mine is not None:
        return False
    return session.scalar(select(AlertGroup.key).where(AlertGroup.key == key)) is not None


class InhibitorsKept:
    """The inhibiting alerts' index entries, by fingerprint, as the last batch read them, each
    with the stamp of the stored values it was computed from. Every batch still reads which
    alerts inhibit, and their stamps (another worker, a timer, a person may have changed any of
    them); one whose stamp is its entry's reuses the entry instead of reading its values and
    computing it again (a storm's thousand HostDown alerts, read by every batch: some 40 ms a
    batch, in the deciding turn). Entries depend on the rules too: they are kept for one engine
    (a reload starts afresh)."""

    def __init__(self) -> None:
        # One attribute, replaced whole: a thread never sees one engine's entries as another's.
        self._kept: tuple[Engine | None, dict[str, KeptEntry]] = (None, {})

    def entries(self, engine: Engine) -> dict[str, KeptEntry]:
        kept_for, entries = self._kept
        return entries if kept_for is engine else {}

    def keep(self, engine: Engine, entries: dict[str, KeptEntry]) -> None:
        """What a batch read (a batch of another thread may have kept its own meanwhile: either
        is right for the rows it read)."""
        self._kept = (engine, entries)


KeptEntry = tuple[Hashable, InhibitorEntry | None]
"""An inhibiting alert's stamp (its row's version on PostgreSQL, its stored values on SQLite),
and its index entry computed from the values it stamps."""

CONSISTENT_READS = 3
"""Tries at reading the changed inhibiting alerts as the versions read just before say they are."""


def _inhibiting_alerts(
    store: StateStore, rules: list[str], earlier: dict[str, KeptEntry]
) -> list[tuple[str, Hashable, AlertRow | Row[Any] | None]]:
    """The inhibiting alerts `store.inhibiting_alerts` reads, in its order, as (fingerprint,
    stamp, row): the row None when its stamp is the one `earlier` has (its values did not change).

    On PostgreSQL the row versions are read first, then the values of the changed alerts only
    (a storm's thousand HostDown alerts, read by every batch, mostly change in none). Both reads
    must see one state: if the second finds a version other than the first's (another
    transaction committed in between), they are read again; after CONSISTENT_READS tries, every
    value is read in one query. On SQLite, every value is read in one query, and an alert whose
    values are those its entry was computed from counts as unchanged."""
    for _ in range(CONSISTENT_READS):
        versions = store.inhibiting_versions(rules)
        if versions is None:
            break
        held = store.alerts
        changed = [
            fingerprint
            for fingerprint, version in versions
            if fingerprint not in held and earlier.get(fingerprint, (None,))[0] != version
        ]
        values = store.inhibiting_values(rules, changed)
        if len(values) == len(changed) and all(
            values[fingerprint][1] == version for fingerprint, version in versions if fingerprint in values
        ):
            return [
                (
                    fingerprint,
                    version,
                    held[fingerprint] if fingerprint in held else values.get(fingerprint, (None,))[0],
                )
                for fingerprint, version in versions
            ]
    read: list[tuple[str, Hashable, AlertRow | Row[Any] | None]] = []
    for row in store.inhibiting_alerts(rules):
        if isinstance(row, AlertRow):
            read.append((row.fingerprint, None, row))
            continue
        stamp = tuple(row)  # its values: those of the entry kept, or not
        read.append(
            (row.fingerprint, stamp, None if earlier.get(row.fingerprint, (None,))[0] == stamp else row)
        )
    return read


class Batch:
    """The decisions of one transaction: the engine's run-time context (silences, inhibiting
    alerts) loaded once and kept in step, and what ended suppressions set free decided again."""

    def __init__(
        self, store: StateStore, engine: Engine, now: datetime, kept: InhibitorsKept | None = None
    ) -> None:
        """`kept`: the inhibiting alerts' entries as earlier batches found them (see `InhibitorsKept`)."""
        self.store = store
        self.engine = engine
        session = store.session
        self.inhibitors = InhibitorIndex()
        rows = session.scalars(
            select(SilenceRow).where(SilenceRow.expired_at.is_(None), SilenceRow.ends_at > now)
        )
        silences = tuple(silence_from_row(r) for r in rows)
        if engine.rules.inhibiting:
            names = [r.name for r in engine.rules.inhibiting]
            earlier = kept.entries(engine) if kept is not None else {}
            found: dict[str, KeptEntry] = {}
            for fingerprint, stamp, row in _inhibiting_alerts(store, names, earlier):
                if isinstance(row, AlertRow):  # held by this transaction: as it stands
                    rule = engine.rules.rule_named(row.rule)
                    if rule.inhibits is not None:
                        self.inhibitors.place(
                            fingerprint, inhibitor_entry(rule, state_of(row), alert_from_row(row, now))
                        )
                    continue
                if row is None:  # unchanged since an earlier batch read it
                    entry = earlier[fingerprint][1]
                else:  # what the entry depends on: the rule, and the stored values (not `now`)
                    entry = inhibitor_entry(
                        engine.rules.rule_named(row.rule), state_of(row), alert_from_row(row, now)
                    )
                found[fingerprint] = (stamp, entry)
                self.inhibitors.place(fingerprint, entry)
            if kept is not None:
                kept.keep(engine, found)
        self.context = Context(silences=silences, inhibitors=self.inhibitors.index)
        self.suppressed: Counter[tuple[Suppression, str]] = Counter()
        """Events kept out of incidents, by why and by rule (for the metrics)."""
        self.resolving: set[str] = set()
        """Alerts whose recovery the delivery being decided brings and that are not decided yet
        (`decide_delivery`)."""

    def decide_delivery(
        self, alerts: Sequence[Alert], received_at: datetime, left: Sequence[Alert]
    ) -> Iterator[Decision]:
        """Decide `alerts`, the next of what is `left` of one delivery to decide, in their order,
        yielding each decision as it is made (the caller may stop between two). What the rest
        of the delivery resolves is not released meanwhile (`release`), whichever transaction
        decides it: as the simulator takes a delivery whole (`Simulator.delivering`)."""
        identity = self.engine.identity
        self.resolving = self.engine.recoveries(left)
        try:
            for alert in alerts:
                self.resolving.discard(identity(alert))
                yield self.decide(alert, received_at)
        finally:
            self.resolving = set()

    def decide(self, alert: Alert, now: datetime) -> Decision:
        known = self.store.alert_state(self.engine.identity(alert))
        # A plain repeat changes nothing, and neither routing it nor its groups are needed
        # (`plain_repeat`, `repeat`: `decide`'s own answer wherever they answer).
        repeat = self.engine.plain_repeat(alert, known)
        if repeat is not None:
            assert known is not None
            self.suppressed[Suppression.DUPLICATE, self.engine.rules.rule_named(known.rule).name] += 1
            return repeat
        routing = self.engine.route(alert, known, now)
        if routing is None:
            self.suppressed[Suppression.STALE, known.rule if known else ""] += 1
            return Decision(Outcome.STALE, "older than what is known of this member")
        decision = self.engine.repeat(routing, known)
        if decision is None:
            keys = [k for k in (routing.target, known.group_key if known else None) if k is not None]
            keys.extend(self.engine.storm_keys())
            decision = self.engine.decide(routing, known, self.store.group_states(keys), now, self.context)
        suppressed = suppression_of(decision)
        if suppressed is not None:
            self.suppressed[suppressed, routing.rule.name] += 1
        self.store.apply(decision, routing.alert, now)
        if decision.alert is not None:
            state = self.store.alert_state(decision.alert.fingerprint)
            if state is not None:
                self.inhibitors.update(self.engine.rules.rule_named(state.rule), state, routing.alert)
        self.released(decision, now)
        return decision

    def released(self, decision: Decision, now: datetime) -> None:
        for key in decision.releases:
            self.release(key, now)
        for fingerprint in decision.regroup:
            self.regroup(fingerprint, now)

    def regroup(self, fingerprint: str, now: datetime) -> None:
        """A storm was recognised: decide again, as firing now, an alert of its window still waiting."""
        self.store.hold_alerts([fingerprint])
        row = self.store.alerts.get(fingerprint)
        if row is not None and row.status == Status.FIRING and row.disposition == Disposition.WAITING:
            self.decide(alert_from_row(row, now), now)

    def release(self, key: str, now: datetime) -> None:
        """Decide again, as firing now, every alert `key` held back, but those the delivery being
        decided resolves too (`resolving`): a notification is one moment, and an alert it
        resolves with what held it back never fired on its own; its own event, decided after,
        records it as resolved while held. Released, it would join an incident and leave it
        again at once (a storm's last round: 3,000 of its 5,000 HostDown-inhibited alerts)."""
        for row in self.store.held_by(key):
            if row.fingerprint not in self.resolving:
                self.decide(alert_from_row(row, now), now)


def alert_from_row(row: AlertRow | Row[Any], now: datetime) -> Alert:
    """A held-back alert as a firing event received `now`, from what is stored of it."""
    return Alert(
        source=row.source,
        source_ref=row.source_ref,
        fingerprint=row.fingerprint,
        status=Status.FIRING,
        name=row.name,
        host=row.host,
        severity=row.severity,
        labels=dict(row.labels),
        annotations=dict(row.annotations),
        starts_at=row.starts_at,
        ends_at=None,
        url=row.url,
        received_at=now,
        recurring=row.source != Source.ZABBIX or row.fingerprint.startswith("dedup:"),
        origin=row.origin,
    )

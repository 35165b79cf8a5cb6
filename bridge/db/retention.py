"""What pruning removes, table by table, and how: each call here is one small step the caller
runs in its own short transaction (a batch of at most `limit` rows, or one partition), so that no
prune ever holds a lock a webhook would wait on for long.

What is kept, whatever the settings: incidents, their timelines and the alerts they name
(`incident_alerts`); alerts still firing, or of an incident not yet closed or cancelled, or whose
group a timer waits on; deliveries still pending or parked as failed; notifications and outbox
jobs not yet done; page notifications (registration and escalation messages, one per person,
incident and channel), which the noise report's pages per person per night counts and which are
few next to the incidents that are kept anyway. Alert rows removed are first added up in
`alert_tallies` (in the same statement's transaction), by the hour of their first sighting and of
their last event, so the reports' alert figures do not change on whole hours.

On PostgreSQL the intake log is partitioned by week of `received_at` (migration 0012), with no
default partition (migration 0018): weeks are added ahead of time by the periodic job and, if a
delivery ever arrives for a week that is missing, on demand by the webhook storing it. A week
whose end is older than the retention and that holds nothing unfinished is taken out with
`DETACH PARTITION ... CONCURRENTLY` (no lock a webhook waits on; impossible while a default
partition exists) and then dropped as the plain table it has become; a week that still holds
something unfinished is pruned by batched deletes. So a done delivery goes at most a week later
than its retention says. SQLite deletes in batches and then gives the freed pages
back (`PRAGMA incremental_vacuum`).
"""

# Table names and conditions put into the SQL here are this module's constants or partition names
# read back from the catalog and matched against PARTITION; values are always bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    case,
    delete,
    literal,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bridge.db.models import AlertRow, AlertTally, IntakeTally
from bridge.dedup.state import Disposition
from bridge.ticketing.lifecycle import IncidentStatus
from bridge.ticketing.messages import MessageKind

WEEK = timedelta(days=7)
PARTITION = re.compile(r"^intake_w(\d{8})$")
LOCK_TIMEOUT_MS = 1000
"""How long adding a week to the intake log may wait for its lock (SHARE UPDATE EXCLUSIVE: no
webhook waits behind it, only other DDL and manual VACUUM or ANALYZE of the log)."""
DROP_LOCK_TIMEOUT_MS = 5000
"""How long dropping a detached week may wait: nothing but the prune knows that table."""

FINISHED_INCIDENTS = (IncidentStatus.CLOSED.value, IncidentStatus.CANCELLED.value)


@dataclass(frozen=True, slots=True)
class Removed:
    """What one step removed (or, in a dry run, would remove)."""

    rows: int
    bytes: int


# -- the intake log's partitions (PostgreSQL) ---------------------------------------------------


def week_start(at: datetime) -> datetime:
    """Monday 00:00 UTC of the week `at` falls in: where its partition starts."""
    day = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday())


def partition_name(start: datetime) -> str:
    return f"intake_w{start:%Y%m%d}"


@dataclass(frozen=True, slots=True)
class Partition:
    name: str
    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + WEEK


def _week_of_name(name: str) -> Partition | None:
    match = PARTITION.match(name)
    if match is None:
        return None
    return Partition(name, datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC))


def _weeks(names: Any) -> list[Partition]:
    found = [p for p in (_week_of_name(str(name)) for name in names) if p is not None]
    return sorted(found, key=lambda p: p.start)


def partitions(session: Session) -> list[Partition]:
    """The weekly partitions of the intake log, oldest first (not one whose detach is pending)."""
    return _attached_weeks(session, detach_pending=False)


def detach_pending(session: Session) -> list[Partition]:
    """Weeks whose DETACH ... CONCURRENTLY was interrupted (a crash, a lock timeout in its second
    phase): still listed under the intake log, invisible to new queries, waiting for FINALIZE."""
    return _attached_weeks(session, detach_pending=True)


def _attached_weeks(session: Session, detach_pending: bool) -> list[Partition]:
    return _weeks(
        session.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'intake'::regclass AND i.inhdetachpending = :pending"
            ),
            {"pending": detach_pending},
        )
    )


def detached(session: Session) -> list[Partition]:
    """Weeks detached from the intake log but not dropped (a prune stopped between the two)."""
    return _weeks(
        session.scalars(
            text(
                "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE 'intake\\_w%' "
                "AND c.relnamespace = current_schema()::regnamespace AND NOT c.relispartition"
            )
        )
    )


def partition_of(session: Session, intake_id: int) -> str:
    """The partition a delivery lives in (tests, the benchmark)."""
    return str(
        session.scalar(text("SELECT tableoid::regclass::text FROM intake WHERE id = :id"), {"id": intake_id})
    )


NO_PARTITION = "no partition of relation"
"""PostgreSQL's message when a row's `received_at` falls in no partition (SQLSTATE 23514)."""


def no_partition(exc: BaseException) -> bool:
    """Whether a failed INSERT failed because the intake log has no partition for the row."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "23514" and NO_PARTITION in str(orig)


def create_partition(session: Session, start: datetime, lock_timeout_ms: int = LOCK_TIMEOUT_MS) -> bool:
    """Add the week starting at `start` to the intake log unless it is there already; False
    when it was. Made as a table of its own, then attached: ATTACH takes SHARE UPDATE EXCLUSIVE
    on the intake log, which no insert or query waits on (CREATE TABLE ... PARTITION OF would
    take ACCESS EXCLUSIVE). Creators take turns on an advisory lock, so two webhooks creating the
    same week on demand do not collide. Raises OperationalError when a lock is not had within
    `lock_timeout_ms`."""
    session.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('bridge intake partitions'))"))
    name = partition_name(start)
    if name in {p.name for p in partitions(session)} or name in {p.name for p in detach_pending(session)}:
        return False
    if session.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
        return False  # a detached week not dropped yet: the prune drops it, nothing is written there
    bounds = f"FROM ('{start.isoformat()}') TO ('{(start + WEEK).isoformat()}')"
    session.execute(text(f"CREATE TABLE {name} (LIKE intake INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"))
    session.execute(text(f"ALTER TABLE intake ATTACH PARTITION {name} FOR VALUES {bounds}"))
    return True


def ensure_partitions(session: Session, first: datetime, last: datetime) -> int:
    """Every week from the one of `first` to the one of `last` in the intake log (bulk loads,
    tests); returns how many were added."""
    start, created = week_start(first), 0
    there = {p.name for p in partitions(session)}
    while start <= last:
        if partition_name(start) not in there:
            created += create_partition(session, start, lock_timeout_ms=10_000)
        start += WEEK
    return created


def partition_unfinished(session: Session, partition: Partition) -> bool:
    """Whether the partition holds a delivery still pending or parked as failed."""
    found = session.scalar(
        text(f"SELECT 1 FROM {partition.name} WHERE status IN ('pending', 'failed') LIMIT 1")
    )
    return found is not None


def partition_size(session: Session, partition: Partition) -> Removed:
    rows = session.scalar(text(f"SELECT count(*) FROM {partition.name}")) or 0
    size = session.scalar(text("SELECT pg_total_relation_size(:name)"), {"name": partition.name}) or 0
    return Removed(int(rows), int(size))


def detach_partition(connection: Connection, partition: Partition, lock_timeout_ms: int) -> None:
    """`ALTER TABLE intake DETACH PARTITION ... CONCURRENTLY`, on a connection in autocommit mode
    (it is two transactions of its own). It takes SHARE UPDATE EXCLUSIVE on the intake log, which
    no webhook's insert waits on, then waits for the queries that may still see the week. Raises
    OperationalError when a lock (or that wait) is not had within `lock_timeout_ms`; if that
    happens in the second phase, the week stays pending (`detach_pending`) for `finalize_detach`."""
    connection.execute(text(f"SET lock_timeout = {int(lock_timeout_ms)}"))
    try:
        connection.execute(text(f"ALTER TABLE intake DETACH PARTITION {partition.name} CONCURRENTLY"))
    finally:
        connection.execute(text("RESET lock_timeout"))


def finalize_detach(connection: Connection, partition: Partition, lock_timeout_ms: int) -> None:
    """Complete an interrupted DETACH ... CONCURRENTLY (`ALTER TABLE ... FINALIZE`), autocommit."""
    connection.execute(text(f"SET lock_timeout = {int(lock_timeout_ms)}"))
    try:
        connection.execute(text(f"ALTER TABLE intake DETACH PARTITION {partition.name} FINALIZE"))
    finally:
        connection.execute(text("RESET lock_timeout"))


def reattach_partition(session: Session, partition: Partition, lock_timeout_ms: int) -> None:
    """Put a detached week back (it held something unfinished after all)."""
    session.execute(text(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}"))
    session.execute(
        text(
            f"ALTER TABLE intake ATTACH PARTITION {partition.name} FOR VALUES "
            f"FROM ('{partition.start.isoformat()}') TO ('{partition.end.isoformat()}')"
        )
    )


def drop_detached(session: Session, partition: Partition) -> Removed:
    """DROP a detached week, adding what it counted to `intake_tallies` in the same transaction
    (so a crash counts it once: before, the week is still there; after, it is gone and counted);
    one scan of the week, which also gives the rows removed. Nothing but this prune uses a
    detached table, so its lock is had at once."""
    size = session.scalar(text("SELECT pg_total_relation_size(:name)"), {"name": partition.name}) or 0
    rows = session.scalar(
        text(
            "WITH week AS (SELECT date_trunc('hour', received_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' "
            "AS hour, source, count(*) AS deliveries, coalesce(sum(alert_count), 0) AS events "
            f"FROM {partition.name} GROUP BY 1, 2), "
            "counted AS (INSERT INTO intake_tallies (hour, source, deliveries, events) "
            "SELECT hour, source, deliveries, events FROM week ON CONFLICT (hour, source) DO UPDATE SET "
            "deliveries = intake_tallies.deliveries + excluded.deliveries, "
            "events = intake_tallies.events + excluded.events) "
            "SELECT coalesce(sum(deliveries), 0) FROM week"
        )
    )
    session.execute(text(f"SET LOCAL lock_timeout = {DROP_LOCK_TIMEOUT_MS}"))
    session.execute(text(f"DROP TABLE {partition.name}"))
    return Removed(int(rows or 0), int(size))


def delete_keys_between(session: Session, start: datetime | None, end: datetime, limit: int) -> int:
    """Remove up to `limit` idempotency keys of deliveries received in [start, end) (those of a
    dropped week; with no `start`, of every week before `end`)."""
    result = session.execute(
        text(
            "DELETE FROM intake_keys WHERE dedup_key IN (SELECT dedup_key FROM intake_keys "
            "WHERE received_at >= coalesce(CAST(:start AS timestamptz), '-infinity') "
            "AND received_at < :end LIMIT :limit)"
        ),
        {"start": start, "end": end, "limit": limit},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- batched deletes ----------------------------------------------------------------------------


def _binds(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as the database compares them: SQLite stores naive UTC text."""
    if session.get_bind().dialect.name != "sqlite":
        return values
    return {
        key: value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value
        for key, value in values.items()
    }


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


INTAKE_DONE = "status = 'done' AND received_at < :cutoff"


def delete_intake(
    session: Session, table: str, cutoff: datetime, limit: int, *, dry: bool = False
) -> Removed:
    """Remove up to `limit` done deliveries received before `cutoff` from `table` (the intake log
    on SQLite; one partition of it on PostgreSQL), with their idempotency keys."""
    binds = _binds(session, {"cutoff": cutoff, "limit": limit})
    if dry:
        rows, size = session.execute(
            text(f"SELECT count(*), coalesce(sum(length(body)), 0) FROM {table} WHERE {INTAKE_DONE}"),
            binds,
        ).one()
        return Removed(int(rows), int(size) + ROW_OVERHEAD * int(rows))
    returned = session.execute(
        text(
            f"DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {INTAKE_DONE} "
            f"ORDER BY received_at LIMIT :limit) RETURNING dedup_key, length(body), received_at, source, "
            "alert_count"
        ),
        binds,
    ).all()
    tally_intake(session, [(r[2], r[3], r[4]) for r in returned])
    if returned and _postgres(session):
        session.execute(
            text("DELETE FROM intake_keys WHERE dedup_key = ANY(:keys)"), {"keys": [r[0] for r in returned]}
        )
    return Removed(len(returned), sum(int(r[1]) + ROW_OVERHEAD for r in returned))


def tally_intake(session: Session, rows: Sequence[tuple[Any, Any, Any]]) -> None:
    """Add deleted deliveries (received_at, source, alert_count) to `intake_tallies`."""
    sums: dict[tuple[datetime, str], list[int]] = {}
    for received_at, source, events in rows:
        counted = sums.setdefault((hour_of(_utc(received_at)), str(source)), [0, 0])
        counted[0] += 1
        counted[1] += int(events or 0)
    if not sums:
        return
    insert = postgresql.insert if _postgres(session) else sqlite.insert
    statement = insert(IntakeTally).values(
        [
            {"hour": hour, "source": source, "deliveries": deliveries, "events": events}
            for (hour, source), (deliveries, events) in sums.items()
        ]
    )
    statement = statement.on_conflict_do_update(
        index_elements=["hour", "source"],
        set_={
            "deliveries": IntakeTally.deliveries + statement.excluded.deliveries,
            "events": IntakeTally.events + statement.excluded.events,
        },
    )
    session.execute(statement)


ROW_OVERHEAD = 64
"""Bytes a row takes besides its large columns (header, ids, times, index entries), roughly."""

PRUNABLE_ALERT = (
    "status = 'resolved' AND last_event_at < :cutoff"
    " AND (incident_number IS NULL OR incident_number IN"
    f" (SELECT number FROM incidents WHERE status IN {FINISHED_INCIDENTS!r}))"
    " AND (group_key IS NULL OR group_key NOT IN (SELECT subject FROM timers))"
    " AND (suppressed_by IS NULL OR suppressed_by NOT IN (SELECT subject FROM timers))"
)
ALERT_SIZE = (
    "length(fingerprint) + length(name) + length(host) + length(CAST(labels AS TEXT))"
    " + length(CAST(annotations AS TEXT)) + length(reason) + length(url) + length(CAST(members AS TEXT))"
)


def suppression_kind() -> ColumnElement[str]:
    """Why an alert paged nobody, as one word, decided in SQL from its disposition and reason
    (`dropped`, `inhibited`, `silenced`, `maintenance`, `for`, `threshold`, `resolved before
    firing`, `cleared`, `waiting`). The noise report counts kept rows by it, and a prune tallies
    removed ones by it, so both count the same way."""
    d, reason = AlertRow.disposition, AlertRow.reason
    held = d.in_([Disposition.WAITING, Disposition.CLEARED])
    return case(
        (d == Disposition.DROPPED, literal("dropped")),
        (d == Disposition.INHIBITED, literal("inhibited")),
        (and_(d == Disposition.SUPPRESSED, AlertRow.suppressed_by.like("silence:%")), literal("silenced")),
        (d == Disposition.SUPPRESSED, literal("maintenance")),
        (and_(held, reason.like("%: firing since %")), literal("for")),
        (and_(held, reason.like("%threshold %")), literal("threshold")),
        (
            and_(d == Disposition.CLEARED, reason.like("resolved before bridge saw it fire%")),
            literal("resolved before firing"),
        ),
        (d == Disposition.CLEARED, literal("cleared")),
        else_=literal("waiting"),
    )


def delete_alerts(session: Session, cutoff: datetime, limit: int, *, dry: bool = False) -> Removed:
    """Remove up to `limit` resolved alerts last heard of before `cutoff` that nothing still needs
    (see the module doc), adding what they counted to `alert_tallies` first."""
    binds = _binds(session, {"cutoff": cutoff, "limit": limit})
    if dry:
        rows, size = session.execute(
            text(f"SELECT count(*), coalesce(sum({ALERT_SIZE}), 0) FROM alerts WHERE {PRUNABLE_ALERT}"),
            binds,
        ).one()
        return Removed(int(rows), int(size) + ROW_OVERHEAD * int(rows))
    chosen = (
        select(AlertRow.id)
        .where(text(PRUNABLE_ALERT))
        .order_by(AlertRow.id)
        .limit(bindparam("limit"))
        .correlate(None)
        .scalar_subquery()
    )
    returned = session.execute(
        delete(AlertRow)
        .where(AlertRow.id.in_(chosen))
        .returning(
            AlertRow.first_seen_at,
            AlertRow.source,
            AlertRow.rule,
            AlertRow.name,
            AlertRow.disposition,
            AlertRow.suppressed_by,
            AlertRow.occurrences,
            AlertRow.last_event_at,
            AlertRow.host,
            suppression_kind(),
            literal_column(ALERT_SIZE),
        ),
        binds,
    ).all()
    tally(session, returned)
    return Removed(len(returned), sum(int(r[10] or 0) + ROW_OVERHEAD for r in returned))


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _utc(value: object) -> datetime:
    at = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


TallyKey = tuple[datetime, str, str, str, str, str, datetime, str, str]


def tally(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    """Add deleted alert rows (first_seen_at, source, rule, name, disposition, suppressed_by,
    occurrences, last_event_at, host, suppression kind, ...) to `alert_tallies`."""
    sums: dict[TallyKey, list[int]] = {}
    for row in rows:
        key = (
            hour_of(_utc(row[0])),
            str(row[1]),
            row[2],
            row[3],
            str(row[4]),
            row[5] or "",
            hour_of(_utc(row[7])),
            row[8] or "",
            str(row[9]),
        )
        counted = sums.setdefault(key, [0, 0])
        counted[0] += 1
        counted[1] += int(row[6])
    if not sums:
        return
    insert = postgresql.insert if _postgres(session) else sqlite.insert
    values = [
        {
            "hour": hour,
            "source": source,
            "rule": rule,
            "name": name,
            "disposition": disposition,
            "suppressed_by": held,
            "last_hour": last_hour,
            "host": host,
            "reason": reason,
            "alerts": alerts,
            "occurrences": occurrences,
        }
        for (hour, source, rule, name, disposition, held, last_hour, host, reason), (
            alerts,
            occurrences,
        ) in sums.items()
    ]
    statement = insert(AlertTally).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=TALLY_KEY,
        set_={
            "alerts": AlertTally.alerts + statement.excluded.alerts,
            "occurrences": AlertTally.occurrences + statement.excluded.occurrences,
        },
    )
    session.execute(statement)


TALLY_KEY = ["hour", "source", "rule", "name", "disposition", "suppressed_by", "last_hour", "host", "reason"]


PAGE_KINDS = (MessageKind.REGISTRATION.value, MessageKind.ESCALATION.value)
"""Notifications kept however old: the pages the noise report counts per person and night."""

DONE_WORK = {
    "notifications": (
        f"status = 'sent' AND sent_at < :cutoff AND kind NOT IN {PAGE_KINDS!r}",
        "length(subject) + length(body) + length(address)",
    ),
    "outbox": ("status = 'done' AND done_at < :cutoff", "length(CAST(payload AS TEXT))"),
}


def delete_done(session: Session, table: str, cutoff: datetime, limit: int, *, dry: bool = False) -> Removed:
    """Remove up to `limit` sent notifications or finished outbox jobs (`table`) done before `cutoff`."""
    where, size = DONE_WORK[table]
    binds = _binds(session, {"cutoff": cutoff, "limit": limit})
    if dry:
        rows, total = session.execute(
            text(f"SELECT count(*), coalesce(sum({size}), 0) FROM {table} WHERE {where}"),
            binds,
        ).one()
        return Removed(int(rows), int(total) + ROW_OVERHEAD * int(rows))
    returned = session.execute(
        text(
            f"DELETE FROM {table} WHERE id IN "
            f"(SELECT id FROM {table} WHERE {where} ORDER BY id LIMIT :limit) "
            f"RETURNING {size}"
        ),
        binds,
    ).all()
    return Removed(len(returned), sum(int(r[0] or 0) + ROW_OVERHEAD for r in returned))


def incremental_vacuum(session: Session) -> None:
    """SQLite: give the pages freed by deletes back to the file system (a no-op unless the file
    was created with auto_vacuum=INCREMENTAL, which bridge sets on new databases)."""
    session.execute(text("PRAGMA incremental_vacuum"))

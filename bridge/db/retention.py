"""What pruning removes, table by table, and how: each call here is one small step the caller
runs in its own short transaction (a batch of at most `limit` rows, or one partition), so that no
prune ever holds a lock a webhook would wait on for long.

What is kept, whatever the settings: incidents, their timelines and the alerts they name
(`incident_alerts`); alerts still firing, or of an incident not yet closed or cancelled, or whose
group a timer waits on; deliveries still pending or parked as failed; notifications and outbox
jobs not yet done. Alert rows removed are first added up in `alert_tallies` (in the same
statement's transaction), so the noise report's figures do not change.

On PostgreSQL the intake log is partitioned by week of `received_at` (migration 0012): a week
whose end is older than the retention and that holds nothing unfinished is dropped whole, a
metadata operation; the default partition (deliveries outside the weekly ranges) and a week that
still holds something unfinished are pruned by batched deletes. So a done delivery goes at most
a week later than its retention says. SQLite deletes in batches and then gives the freed pages
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

from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from bridge.db.models import AlertTally
from bridge.ticketing.lifecycle import IncidentStatus

WEEK = timedelta(days=7)
PARTITION = re.compile(r"^intake_w(\d{8})$")
DEFAULT_PARTITION = "intake_default"
LOCK_TIMEOUT_MS = 50
"""How long DDL on the intake log may wait for its lock: a waiting ACCESS EXCLUSIVE request
queues every webhook behind it, so give up quickly and try again on the next run."""

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


def partitions(session: Session) -> list[Partition]:
    """The weekly partitions of the intake log, oldest first (the default one is not listed)."""
    names = session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'intake'::regclass"
        )
    )
    found = []
    for name in names:
        match = PARTITION.match(name)
        if match:
            found.append(Partition(name, datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC)))
    return sorted(found, key=lambda p: p.start)


def partition_of(session: Session, intake_id: int) -> str:
    """The partition a delivery lives in (tests, the benchmark)."""
    return str(
        session.scalar(text("SELECT tableoid::regclass::text FROM intake WHERE id = :id"), {"id": intake_id})
    )


def create_partition(session: Session, start: datetime) -> bool:
    """Create the week's partition unless it exists, or the default partition holds rows of that
    week (PostgreSQL would refuse; those are pruned from the default partition instead). False
    when it was not created, also when the lock was not had within LOCK_TIMEOUT_MS."""
    name = partition_name(start)
    if session.scalar(text("SELECT to_regclass(:name)"), {"name": name}) is not None:
        return False
    bounds = {"start": start, "end": start + WEEK}
    stray = session.scalar(
        text(f"SELECT 1 FROM {DEFAULT_PARTITION} WHERE received_at >= :start AND received_at < :end LIMIT 1"),
        bounds,
    )
    if stray is not None:
        return False
    session.execute(text(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"))
    session.execute(
        text(
            f"CREATE TABLE {name} PARTITION OF intake FOR VALUES "
            f"FROM ('{bounds['start'].isoformat()}') TO ('{bounds['end'].isoformat()}')"
        )
    )
    return True


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


def drop_partition(session: Session, partition: Partition) -> None:
    """DROP the week (its rows are all done): waits at most LOCK_TIMEOUT_MS for the lock."""
    session.execute(text(f"SET LOCAL lock_timeout = {LOCK_TIMEOUT_MS}"))
    session.execute(text(f"DROP TABLE {partition.name}"))


def delete_keys_between(session: Session, start: datetime, end: datetime, limit: int) -> int:
    """Remove up to `limit` idempotency keys of deliveries received in [start, end) (those of a
    dropped partition)."""
    result = session.execute(
        text(
            "DELETE FROM intake_keys WHERE dedup_key IN (SELECT dedup_key FROM intake_keys "
            "WHERE received_at >= :start AND received_at < :end LIMIT :limit)"
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
            f"ORDER BY received_at LIMIT :limit) RETURNING dedup_key, length(body)"
        ),
        binds,
    ).all()
    if returned and _postgres(session):
        session.execute(
            text("DELETE FROM intake_keys WHERE dedup_key = ANY(:keys)"), {"keys": [r[0] for r in returned]}
        )
    return Removed(len(returned), sum(int(r[1]) + ROW_OVERHEAD for r in returned))


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
    returned = session.execute(
        text(
            f"DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE {PRUNABLE_ALERT} "
            f"ORDER BY id LIMIT :limit) RETURNING first_seen_at, source, rule, name, disposition, "
            f"suppressed_by, occurrences, {ALERT_SIZE}"
        ),
        binds,
    ).all()
    tally(session, returned)
    return Removed(len(returned), sum(int(r[7] or 0) + ROW_OVERHEAD for r in returned))


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def tally(session: Session, rows: Sequence[Sequence[Any]]) -> None:
    """Add deleted alert rows (first_seen_at, source, rule, name, disposition, suppressed_by,
    occurrences, ...) to `alert_tallies`."""
    sums: dict[tuple[datetime, str, str, str, str, str], list[int]] = {}
    for row in rows:
        first_seen = row[0] if isinstance(row[0], datetime) else datetime.fromisoformat(str(row[0]))
        if first_seen.tzinfo is None:
            first_seen = first_seen.replace(tzinfo=UTC)
        key = (hour_of(first_seen), row[1], row[2], row[3], row[4], row[5] or "")
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
            "alerts": alerts,
            "occurrences": occurrences,
        }
        for (hour, source, rule, name, disposition, held), (alerts, occurrences) in sums.items()
    ]
    statement = insert(AlertTally).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["hour", "source", "rule", "name", "disposition", "suppressed_by"],
        set_={
            "alerts": AlertTally.alerts + statement.excluded.alerts,
            "occurrences": AlertTally.occurrences + statement.excluded.occurrences,
        },
    )
    session.execute(statement)


DONE_WORK = {
    "notifications": (
        "status = 'sent' AND sent_at < :cutoff",
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

"""Recorded traces of deliveries: what `bridge intake export` writes and `bridge rules replay
--input` reads.

One JSON object per line: ``{"source": "alertmanager" | "zabbix", "received_at": "<ISO-8601
with timezone>", "body": <the webhook body as posted>}``. A trace recorded on one bridge can be
replayed against candidate rules anywhere, in simulated time that follows `received_at`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import String, case, or_, select, type_coerce
from sqlalchemy.orm import Session

from bridge.alert import Source
from bridge.db.models import Intake
from bridge.dedup.evolve import quick_init
from bridge.errors import TraceError
from bridge.timeutil import ensure_utc

SOURCES = {s.value: s for s in Source}


@quick_init  # one per stored delivery read back
@dataclass(frozen=True, slots=True)
class Recorded:
    """One delivery as it reached bridge: the raw body and when it arrived."""

    source: Source
    received_at: datetime
    body: bytes
    host_shard: int | None = None  # what the intake stored (see Delivery.host_shard); None if unknown


def record_line(recorded: Recorded) -> str:
    """The trace line of one delivery. The body is embedded as JSON, not as an escaped string,
    so a trace stays readable and greppable."""
    body = json.loads(recorded.body)
    return json.dumps(
        {"source": recorded.source.value, "received_at": recorded.received_at.isoformat(), "body": body},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def read_trace(lines: Iterable[str], name: str = "trace") -> Iterator[Recorded]:
    """The deliveries of a trace, in file order; raises TraceError naming the line at fault."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        yield parse_line(line, f"{name}:{number}")


def parse_line(line: str, where: str) -> Recorded:
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TraceError(f"{where}: not a JSON line: {exc.msg} at column {exc.colno}") from None
    if not isinstance(record, dict):
        raise TraceError(f"{where}: must be a JSON object with source, received_at and body")
    missing = [k for k in ("source", "received_at", "body") if k not in record]
    if missing:
        raise TraceError(f"{where}: missing {', '.join(missing)}")
    source = SOURCES.get(record["source"]) if isinstance(record["source"], str) else None
    if source is None:
        raise TraceError(f"{where}: source must be alertmanager or zabbix, got {record['source']!r}")
    received_at = _instant(record["received_at"], where)
    body = json.dumps(record["body"], separators=(",", ":"), ensure_ascii=False).encode()
    return Recorded(source, received_at, body)


def _instant(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise TraceError(f"{where}: received_at must be an ISO-8601 string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise TraceError(f"{where}: received_at {value!r} is not an ISO-8601 instant") from None
    if parsed.tzinfo is None:
        raise TraceError(f"{where}: received_at {value!r} has no time zone (add Z or +03:00)")
    return ensure_utc(parsed)


def stored_deliveries(
    session: Session, since: datetime | None, until: datetime | None, batch: int = 5000
) -> Iterator[Recorded]:
    """The intake log in arrival order, read in keyset pages so a long history never sits in
    memory at once. Failed deliveries are included: they were accepted, so they are history."""
    for recorded in stored_share(session, since, until, None, batch):
        assert isinstance(recorded, Recorded)  # without a share every delivery comes whole
        yield recorded


def stored_share(
    session: Session,
    since: datetime | None,
    until: datetime | None,
    share: tuple[int, int] | None,
    batch: int = 5000,
) -> Iterator[Recorded | datetime]:
    """`stored_deliveries`, where with `share=(index, count)` a delivery about hosts of another
    share comes as its `received_at` alone (its body is not even read; see `bridge.replay`)."""
    body: Any = Intake.body
    if share is not None:
        index, count = share
        mine = or_(Intake.host_shard.is_(None), Intake.host_shard % count == index)
        body = case((mine, Intake.body), else_=None)
    # The time as the driver gives it (SQLite: text; PostgreSQL: a datetime), made UTC below:
    # SQLAlchemy's own conversion of SQLite's text was half the cost of reading the log.
    received = type_coerce(Intake.received_at, String())
    last_id = 0
    while True:
        query = select(Intake.id, Intake.source, received, body, Intake.host_shard)
        query = query.where(Intake.id > last_id)
        if since is not None:
            query = query.where(Intake.received_at >= since)
        if until is not None:
            query = query.where(Intake.received_at < until)
        rows = session.connection().execute(query.order_by(Intake.id).limit(batch)).all()  # no ORM rows
        if not rows:
            return
        for _id, source, stored_at, raw, shard in rows:
            received_at = _stored_instant(stored_at)
            if raw is None:
                yield received_at
            else:
                yield Recorded(SOURCES[source], received_at, bytes(raw), shard)
        last_id = rows[-1][0]


def _stored_instant(value: datetime | str) -> datetime:
    if isinstance(value, str):  # SQLite keeps UTC without a zone
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return ensure_utc(value)


def write_trace(deliveries: Iterable[Recorded], out: IO[str]) -> int:
    """Write deliveries as trace lines; returns how many."""
    count = 0
    for recorded in deliveries:
        out.write(record_line(recorded))
        out.write("\n")
        count += 1
    return count

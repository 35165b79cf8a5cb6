"""The outbox: work for the outside world (write-back to Zabbix, Alertmanager silences), written
in the same transaction as the change that wants it and done later by a worker, never inside a
request, on the leased loop of `bridge.services.leased`. A failing peer never blocks deliveries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import OutboxJob, OutboxStatus
from bridge.db.queries import Page, Paging, paged
from bridge.db.timeline import add_entry
from bridge.errors import PermanentFailure
from bridge.services.leased import Failed, LeasedWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
"""After this many failed attempts a job is parked as failed (visible in /api/outbox)."""
LEASE = timedelta(minutes=5)
"""How long a claimed job is a worker's; after that another worker may take it again."""

DESCRIPTIONS = {
    "zabbix.acknowledge": "acknowledging in Zabbix",
    "zabbix.message": "adding a message in Zabbix",
    "zabbix.close": "closing in Zabbix",
    "alertmanager.silence": "silencing in Alertmanager",
    "alertmanager.expire": "expiring the Alertmanager silence",
}


@dataclass(frozen=True, slots=True)
class JobResult:
    """What a job's handler reports; `note` goes into the incident's timeline."""

    note: str = ""
    record: Callable[[Session], None] | None = None  # store what the peer answered (e.g. a silence id)


Handler = Callable[[dict[str, Any]], JobResult]


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    incident: int | None


def enqueue(
    session: Session, kind: str, payload: dict[str, Any], now: datetime, incident: int | None = None
) -> None:
    """Add a job to the caller's transaction: it exists if and only if the caller commits."""
    session.add(
        OutboxJob(
            kind=kind,
            incident_number=incident,
            payload=payload,
            next_attempt_at=now,
            created_at=now,
        )
    )


class Outbox(
    LeasedWork[OutboxJob, ClaimedJob, JobResult], model=OutboxJob, lease=LEASE, max_attempts=MAX_ATTEMPTS
):
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        handlers: Mapping[str, Handler],
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        super().__init__(sessions, clock)
        self.handlers = dict(handlers)
        self.on_result = on_result

    def list(self, statuses: Sequence[str], paging: Paging) -> Page[OutboxJob]:
        """Jobs, newest first (e.g. the `failed` ones)."""
        statement = select(OutboxJob)
        if statuses:
            statement = statement.where(OutboxJob.status.in_(statuses))
        with self.sessions() as session:
            return paged(session, statement, [OutboxJob.id.desc()], paging)

    # -- the leased loop ------------------------------------------------------------------------

    def claimed(self, row: OutboxJob) -> ClaimedJob:
        return ClaimedJob(row.id, row.kind, dict(row.payload), row.incident_number)

    def run(self, work: ClaimedJob) -> JobResult:
        handler = self.handlers.get(work.kind)
        if handler is None:
            raise PermanentFailure(f"no handler for {work.kind!r} (the integration is not configured)")
        return handler(work.payload)

    def tried(self, work: ClaimedJob, failed: Failed | None) -> None:
        if self.on_result is not None:
            result = "done" if failed is None else ("failed" if failed.permanent else "error")
            self.on_result(work.kind, result)

    def succeeded(self, session: Session, row: OutboxJob, done: JobResult, now: datetime) -> None:
        row.status, row.done_at = OutboxStatus.DONE, now
        if done.record is not None:
            # The peer did it: whatever happens while noting its answer, never do it twice.
            try:
                with session.begin_nested():
                    done.record(session)
            except Exception as exc:
                log.exception("%s done, but its result could not be recorded", self.label(row))
                row.last_error = f"done, but not recorded: {exc.__class__.__name__}: {exc}"[:2000]
        if done.note and row.incident_number is not None:
            add_entry(session, row.incident_number, now, "writeback", done.note)

    def gave_up(self, session: Session, row: OutboxJob, error: str, now: datetime) -> None:
        if row.incident_number is not None:
            what = DESCRIPTIONS.get(row.kind, row.kind)
            text = f"{what} failed after {row.attempts} attempts: {error}"
            add_entry(session, row.incident_number, now, "writeback_failed", text)

    def label(self, row: OutboxJob) -> str:
        return f"outbox job {row.id} ({row.kind})"

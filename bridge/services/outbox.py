"""The outbox: work for the outside world (write-back to Zabbix, Alertmanager silences), written
in the same transaction as the change that wants it and done later, never inside a request.

A job is claimed with a lease (so several workers never run one twice at once, and a worker that
died mid-job leaves it to be claimed again after the lease), run without holding a transaction,
and then marked done, rescheduled with backoff, or parked as failed after `MAX_ATTEMPTS`. A
failing peer therefore never blocks deliveries, and nothing is silently dropped.
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
from bridge.db.models import OutboxJob, OutboxStatus, TimelineEntry
from bridge.db.queries import claim_due, paged
from bridge.errors import PermanentFailure

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
"""After this many failed attempts a job is parked as failed (visible in /api/outbox)."""
LEASE = timedelta(minutes=5)
"""How long a claimed job is a worker's; after that another worker may take it again."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a job's handler reports; `note` goes into the incident's timeline."""

    note: str = ""
    record: Callable[[Session], None] | None = None  # store what the peer answered (e.g. a silence id)


Handler = Callable[[dict[str, Any]], Outcome]


def enqueue(
    session: Session, kind: str, payload: dict[str, Any], now: datetime, incident: int | None = None
) -> None:
    """Add a job to the caller's transaction: it exists if and only if the caller commits."""
    session.add(
        OutboxJob(
            kind=kind,
            incident_number=incident,
            payload=payload,
            status=OutboxStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def list_jobs(
    session: Session, statuses: Sequence[str], limit: int, offset: int
) -> tuple[list[OutboxJob], int]:
    """Jobs, newest first (e.g. the `failed` ones)."""
    statement = select(OutboxJob)
    if statuses:
        statement = statement.where(OutboxJob.status.in_(statuses))
    return paged(session, statement, [OutboxJob.id.desc()], limit, offset)


def backoff(attempts: int) -> timedelta:
    """30s, 1m, 2m, 4m ... at most 30m between attempts."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(minutes=30))


class Outbox:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        handlers: Mapping[str, Handler],
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.handlers = dict(handlers)
        self.on_result = on_result

    def run_due(self, limit: int = 20) -> int:
        """Run the jobs that are due; returns how many ran."""
        jobs = self._claim(limit)
        for job_id, kind, payload, incident in jobs:
            try:
                self._run(job_id, kind, payload, incident)
            except Exception:  # the database failing under us: the lease brings the job back later
                log.exception("outbox job %d (%s) could not be settled", job_id, kind)
        return len(jobs)

    def _claim(self, limit: int) -> list[tuple[int, str, dict[str, Any], int | None]]:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            return [
                (job.id, job.kind, dict(job.payload), job.incident_number)
                for job in claim_due(session, OutboxJob, now, LEASE, limit)
            ]

    def _run(self, job_id: int, kind: str, payload: dict[str, Any], incident: int | None) -> None:
        handler = self.handlers.get(kind)
        error: str | None = None
        permanent = False
        outcome = Outcome()
        if handler is None:
            error, permanent = f"no handler for {kind!r} (the integration is not configured)", True
        else:
            try:
                outcome = handler(payload)
            except PermanentFailure as exc:
                error, permanent = str(exc), True
            except Exception as exc:
                error = f"{exc.__class__.__name__}: {exc}"
        if self.on_result is not None:
            self.on_result(kind, "done" if error is None else ("failed" if permanent else "error"))
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            job = session.get(OutboxJob, job_id, with_for_update=True)
            if job is None:
                return
            job.lease_until = None
            if error is None:
                job.status, job.done_at, job.last_error = OutboxStatus.DONE.value, now, None
                if outcome.record is not None:
                    # The peer did it: whatever happens while noting its answer, never do it twice.
                    try:
                        with session.begin_nested():
                            outcome.record(session)
                    except Exception as exc:
                        log.exception(
                            "outbox job %d (%s) done, but its result could not be recorded", job_id, kind
                        )
                        job.last_error = f"done, but not recorded: {exc.__class__.__name__}: {exc}"[:2000]
                if outcome.note and incident is not None:
                    session.add(
                        TimelineEntry(
                            incident_number=incident,
                            at=now,
                            actor="bridge",
                            kind="writeback",
                            text=outcome.note,
                        )
                    )
                return
            job.last_error = error[:2000]
            if permanent or job.attempts >= MAX_ATTEMPTS:
                job.status = OutboxStatus.FAILED.value
                log.error("outbox job %d (%s) failed for good: %s", job_id, kind, error)
                if incident is not None:
                    session.add(
                        TimelineEntry(
                            incident_number=incident,
                            at=now,
                            actor="bridge",
                            kind="writeback_failed",
                            text=f"{describe(kind)} failed after {job.attempts} attempts: {error}",
                        )
                    )
            else:
                job.status = OutboxStatus.PENDING.value
                job.next_attempt_at = now + backoff(job.attempts)
                log.warning(
                    "outbox job %d (%s) attempt %d failed, retrying at %s: %s",
                    job_id,
                    kind,
                    job.attempts,
                    job.next_attempt_at.isoformat(),
                    error,
                )


def describe(kind: str) -> str:
    return {
        "zabbix.acknowledge": "acknowledging in Zabbix",
        "zabbix.message": "adding a message in Zabbix",
        "zabbix.close": "closing in Zabbix",
        "alertmanager.silence": "silencing in Alertmanager",
        "alertmanager.expire": "expiring the Alertmanager silence",
    }.get(kind, kind)

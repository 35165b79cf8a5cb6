"""Jobs that run every so often (reconciliation), once per interval however many workers run.

Each job's next run is a row in the timers table: a worker claims it (`FOR UPDATE SKIP LOCKED`),
moves it one interval on, commits, and only then runs the job, so a slow or failing job never
holds a lock, and a restart keeps the schedule. Failures are logged and counted, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Timer

log = logging.getLogger(__name__)
KIND = "periodic"


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    name: str
    every: timedelta
    run: Callable[[], object]


class Periodic:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        jobs: list[PeriodicJob],
        on_result: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.jobs = jobs
        self.on_result = on_result

    def run_due(self) -> int:
        ran = 0
        for job in self.jobs:
            if not self._claim(job):
                continue
            ran += 1
            try:
                result = job.run()
                log.info("%s: %s", job.name, result)
                ok = True
            except Exception:
                log.exception("%s failed; it runs again in %s", job.name, job.every)
                ok = False
            if self.on_result is not None:
                self.on_result(job.name, ok)
        return ran

    def _claim(self, job: PeriodicJob) -> bool:
        now = self.clock.now()
        try:
            with self.sessions() as session, session.begin():
                row = session.scalars(
                    select(Timer)
                    .where(Timer.kind == KIND, Timer.subject == job.name)
                    .with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    exists = session.scalar(
                        select(Timer.id).where(Timer.kind == KIND, Timer.subject == job.name)
                    )
                    if exists is not None:
                        return False  # another worker holds it right now
                    session.add(Timer(kind=KIND, subject=job.name, due_at=now + job.every))
                    return True
                if row.due_at > now:
                    return False
                row.due_at = now + job.every
                return True
        except IntegrityError:
            return False  # another worker created the schedule first

"""The sweeper: deliveries still pending after a grace period go back on the queue.

A row stays pending when its enqueue failed after the commit (Redis down or hung), when its job
was lost with Redis, or when the worker running it died. Each worker's tick claims such rows
(`FOR UPDATE SKIP LOCKED`, so N workers never sweep one row twice at once), enqueues them and
stamps `requeued_at`, so a row is taken up at most once per grace period however long it waits.
When Redis cannot take them either, the worker processes them itself: Redis is a transport, and
an outage of it delays alerts by the grace period, never longer. A delivery that keeps failing
comes back once per grace period until the pipeline parks it as `failed`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Intake, IntakeStatus
from bridge.integrations.queue import IntakeQueue
from bridge.services.pipeline import Pipeline

log = logging.getLogger(__name__)

BATCH = 500
"""Rows swept per tick at most."""


@dataclass(frozen=True, slots=True)
class Swept:
    requeued: int = 0
    processed_here: int = 0


class Sweeper:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        queue: IntakeQueue,
        pipeline: Pipeline,
        grace: timedelta,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.queue = queue
        self.pipeline = pipeline
        self.grace = grace

    def run(self) -> Swept:
        now = self.clock.now()
        cutoff = now - self.grace
        with self.sessions() as session, session.begin():
            ids = list(
                session.scalars(
                    select(Intake.id)
                    .where(
                        Intake.status == IntakeStatus.PENDING,
                        Intake.received_at < cutoff,
                        or_(Intake.requeued_at.is_(None), Intake.requeued_at < cutoff),
                    )
                    .order_by(Intake.id)
                    .limit(BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return Swept()
            queued = self.queue.enqueue(ids)
            session.execute(update(Intake).where(Intake.id.in_(ids)).values(requeued_at=now))
        if queued:
            log.info("re-enqueued %d deliveries pending for more than %s", len(ids), self.grace)
            return Swept(requeued=len(ids))
        # Redis cannot take them: with the locks released, process them in this worker.
        log.warning("Redis unavailable: processing %d waiting deliveries in this worker", len(ids))
        result = self.pipeline.process_through(ids[-1])
        return Swept(processed_here=result.deliveries)

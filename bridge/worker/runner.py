"""Running the pipeline: the in-process worker thread of the embedded default.

The thread wakes when a webhook stores a delivery (`notify`) or every tick, processes pending
deliveries until none is left, then fires due timers, runs due outbox jobs (write-back), the
extra `jobs` (incident timers: escalation and SLA; notifications) and periodic jobs
(reconciliation). The database is the queue, so a restart simply carries on with
whatever is still pending.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sqlalchemy.exc import DBAPIError

from bridge.services.outbox import Outbox
from bridge.services.pipeline import Pipeline
from bridge.worker.periodic import Periodic

log = logging.getLogger(__name__)

TIMER_ROUNDS = 20
"""Rounds of due timers per drain; what is left waits for the next tick."""


class InProcessRunner:
    def __init__(
        self,
        pipeline: Pipeline,
        tick_seconds: float = 1.0,
        batch_size: int = 200,
        outbox: Outbox | None = None,
        periodic: Periodic | None = None,
        jobs: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.pipeline = pipeline
        self.jobs = list(jobs)
        self.outbox = outbox
        self.periodic = periodic
        self.tick_seconds = tick_seconds
        self.batch_size = batch_size
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one round at a time (the thread, or a test calling drain)

    def notify(self, intake_id: int | None = None) -> None:
        """A delivery was stored: process it soon."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="bridge-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def drain(self) -> int:
        """Process everything pending, due timers, due outbox and periodic jobs; returns how many
        deliveries ran."""
        with self._lock:
            handled = self._deliveries()
            # A timer may ask for its next step at an instant already past (a backlog, a late tick):
            # catch up now, in bounded rounds so that a timer asking again and again cannot spin.
            for _ in range(TIMER_ROUNDS):
                if not self.pipeline.run_due_timers():
                    break
            if self.outbox is not None:
                self.outbox.run_due()
            for job in self.jobs:  # incident timers, then the notifications they queued
                job()
            if self.periodic is not None and self.periodic.run_due():
                handled += self._deliveries()  # what reconciliation found goes through at once
            return handled

    def _deliveries(self) -> int:
        handled = 0
        while True:
            result = self.pipeline.process_pending(self.batch_size)
            handled += result.deliveries
            if result.deliveries == 0:
                return handled

    def _loop(self) -> None:
        backoff = self.tick_seconds
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.drain()
                backoff = self.tick_seconds
            except DBAPIError as exc:
                backoff = min(backoff * 2, 30.0)
                log.warning("database unavailable (%s); retrying in %.0fs", exc.__class__.__name__, backoff)
            except Exception:
                backoff = min(backoff * 2, 30.0)
                log.exception("worker round failed; retrying in %.0fs", backoff)

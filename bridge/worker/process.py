"""`bridge worker`: one rq worker plus the periodic tick, in one process; run as many as needed.

The rq side takes jobs off the queue in the main thread (`SimpleWorker`: no fork per job, so the
runtime built at start serves every job) and runs `bridge.jobs.process_intake`. A thread ticks
every BRIDGE_TICK_SECONDS: due timers, the sweeper, due outbox jobs, due periodic jobs (see
`bridge.worker.tick`); all of them claim their rows in the database, so N worker processes on one or
many machines fire each timer and run each job once. Neither side needs the other: with Redis
down the tick goes on (and the sweeper processes what waits), with the database down jobs fail
and their deliveries stay pending. SIGTERM or SIGINT finishes the current job and stops.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
from types import FrameType
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy.exc import SQLAlchemyError

from bridge.collector import collect_young_less_often
from bridge.db.failures import classify, describe
from bridge.integrations.queue import QUEUE_NAME, connect
from bridge.worker import jobs
from bridge.worker.runtime import Runtime

log = logging.getLogger(__name__)

WORKER_TTL = 20
"""Seconds rq keeps a silent worker registered. rq blocks on the queue for WORKER_TTL - 15 s and
gives the worker's Redis connection that plus 10 s as its timeout: a hung Redis stalls the rq
side for at most that long (the tick goes on regardless)."""
MAX_BACKOFF = 30.0
"""Longest wait between attempts when the database or Redis keeps failing."""


def tune_collector() -> None:
    """The garbage collector as a long-running decider wants it: what the process built to start
    (modules, mappers, compiled rules, templates) leaves the collector's sight for good
    (`gc.freeze`), so a full collection walks only what came after, and the youngest generation
    is collected less often (`bridge.collector`). Memory stays bounded: cyclic garbage is still
    collected, only in larger steps."""
    gc.freeze()
    collect_young_less_often()


def lower_priority(niceness: int) -> None:
    """Lower this process's CPU priority by `niceness` (BRIDGE_WORKER_NICE). A worker shares the
    cores with the web tier, where a sender waits for every 2xx: with the same priority, deciding
    a backlog took the web tier's CPU (bench/sidebyside.py's `bridge_workers` took about two
    thirds of the alerts/s of `bridge_stopped`). Lowered, the worker has what the web tier leaves,
    and catches up when the webhooks pause: the backlog is in the database either way. Raising it
    back takes privileges, so this is for the process's life; 0 leaves it as started."""
    if niceness <= 0:
        return
    try:
        now = os.nice(niceness)
    except OSError as exc:  # a sandbox refusing it: run at the priority it has
        log.warning("cannot lower the worker's CPU priority by %d: %s", niceness, exc)
        return
    log.info("worker CPU priority lowered by %d (nice %d)", niceness, now)


class _Worker(SimpleWorker):
    """rq's in-process worker, retrying a lost Redis every few seconds rather than every minute."""

    max_connection_wait_time = 5.0

    def __init__(self, *args: Any, stopping: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stopping = stopping

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping.set()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]


class WorkerProcess:
    def __init__(self, runtime: Runtime, name: str | None = None) -> None:
        if runtime.settings.redis_url is None:
            raise ValueError("bridge worker needs BRIDGE_REDIS_URL")
        self.runtime = runtime
        self.name = name or f"bridge-{socket.gethostname()}-{os.getpid()}"
        self.stopping = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lives = 0

    def run(self, burst: bool = False) -> None:
        """Work until stopped (or, with `burst`, until the queue is empty and one tick ran)."""
        lower_priority(self.runtime.settings.worker_nice)
        jobs.install(self.runtime)
        tune_collector()
        if burst:
            self._tick_once()
            self._work(burst=True)
            self._tick_once()
            return
        self._install_signal_handlers()
        self.runtime.watcher.start()
        if self.runtime.telegram is not None:
            self.runtime.telegram.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="bridge-tick", daemon=True)
        self._ticker.start()
        backoff = 1.0
        try:
            while not self.stopping.is_set():
                started = time.monotonic()
                self._work(burst=False)
                if time.monotonic() - started > 60:
                    backoff = 1.0  # it had been working: this is a new trouble
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            self.stopping.set()
            self._ticker.join(60)

    def _work(self, burst: bool) -> None:
        """One rq worker's life: until a stop, or until Redis trouble makes rq give up (then the
        caller starts another after a pause)."""
        self._lives += 1
        redis = connect(self.runtime.settings.redis_url or "", self.runtime.settings.redis_timeout)
        try:
            worker = _Worker(
                [Queue(QUEUE_NAME, connection=redis, serializer=JSONSerializer)],
                name=f"{self.name}.{self._lives}",  # a new name: the last one may not have unregistered
                connection=redis,
                serializer=JSONSerializer,
                worker_ttl=WORKER_TTL,
                stopping=self.stopping,
            )
            worker.work(burst=burst, logging_level=self.runtime.settings.log_level)
        except RedisError as exc:
            log.warning("Redis unavailable (%s: %s); the tick goes on", exc.__class__.__name__, exc)
        except Exception:
            log.exception("the rq worker stopped; starting another")
        finally:
            redis.close()

    def _tick_loop(self) -> None:
        every = self.runtime.settings.tick_seconds
        backoff = every
        while not self.stopping.wait(backoff):
            backoff = every if self._tick_once() else min(backoff * 2, MAX_BACKOFF)

    def _tick_once(self) -> bool:
        try:
            ticked = self.runtime.tick.run()
        except SQLAlchemyError as exc:
            failure = classify(exc)
            if failure.waits:
                log.warning("database %s (%s); the tick retries", failure, describe(exc))
            else:
                log.exception("a tick failed (%s); retrying", describe(exc))
            return False
        except Exception:
            log.exception("a tick failed; retrying")
            return False
        if ticked:
            log.info(
                "tick: %d timers fired, %d deliveries re-enqueued, %d processed here, %d outbox jobs, "
                "%d notifications, %d periodic jobs",
                ticked.timers,
                ticked.requeued,
                ticked.processed_here,
                ticked.outbox,
                ticked.notifications,
                ticked.periodic,
            )
        return True

    def _install_signal_handlers(self) -> None:
        """Between rq workers (rq installs its own while one works), a signal just stops us."""

        def stop(_signum: int, _frame: FrameType | None) -> None:
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

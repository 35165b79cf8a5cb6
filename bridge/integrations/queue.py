"""The rq queue of production mode: Redis as a transport, never as the source of truth.

A webhook commits its intake row first, then `IntakeQueue.enqueue` puts a job naming the row's
id on the queue (JSON serializer, `bridge.jobs.process_intake`). Every Redis call has a short
timeout and no retries, and a failure is swallowed: the row is in the database and the sweeper
(`bridge.sweeper`) re-enqueues rows still pending after a grace period. After a failure the queue
stops trying for `PAUSE_AFTER_FAILURE` seconds, so a hung Redis costs one timeout, not one per
webhook.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.serializers import JSONSerializer

log = logging.getLogger(__name__)

QUEUE_NAME = "bridge"
"""The rq queue bridge's web processes enqueue on and `bridge worker` listens to."""
JOB = "bridge.worker.jobs.process_intake"
"""The job function, by import path (the web tier never needs to import the worker's code)."""
JOB_TIMEOUT = 300
"""Seconds a job may run before rq stops it (a batch of deliveries takes well under a second)."""
RESULT_TTL = 60
"""Seconds rq keeps a finished job: the database has the outcome, Redis need not."""
FAILURE_TTL = 24 * 3600
"""Seconds rq keeps a failed job for `rq info`; the delivery's own error is in the intake log."""
PAUSE_AFTER_FAILURE = 5.0
"""Seconds to leave Redis alone after a failed call; the sweeper covers what was not enqueued."""
WAKE_KEY = "bridge:intake:job-waiting"
"""Set while a job is queued that no worker has started yet (`IntakeQueue.wake`)."""
WAKE_INTERVAL = 0.05
"""Seconds between two wakes of the queue by one web process at most (`QueueHandoff`)."""
WAKE_TTL = 10
"""Seconds the wake key lives at most: should its job be lost (a worker killed between taking it
and starting it), the next delivery after this long queues a new one; the sweeper covers the
deliveries in between."""


def connect(url: str, timeout: float) -> Redis:
    """A client whose every call gives up after `timeout` seconds, without retrying."""
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )


class IntakeQueue:
    def __init__(self, redis: Redis, name: str = QUEUE_NAME) -> None:
        self.redis = redis
        self.queue = Queue(name, connection=redis, serializer=JSONSerializer)
        self._paused_until = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str, timeout: float) -> IntakeQueue:
        return cls(connect(url, timeout))

    def enqueue(self, intake_ids: Sequence[int]) -> bool:
        """Queue one job per delivery; False (logged, never raised) when Redis cannot take them."""
        if not intake_ids:
            return True
        if self.paused:
            return False
        try:
            with self.redis.pipeline() as pipe:
                for intake_id in intake_ids:
                    self.queue.enqueue_call(
                        JOB,
                        args=(intake_id,),
                        timeout=JOB_TIMEOUT,
                        result_ttl=RESULT_TTL,
                        failure_ttl=FAILURE_TTL,
                        description=f"process delivery {intake_id}",
                        pipeline=pipe,
                    )
                pipe.execute()
        except RedisError as exc:
            self._pause(exc)
            return False
        return True

    def wake(self, intake_id: int) -> bool:
        """Have delivery `intake_id` processed soon: queue a job for it unless a job is already
        waiting that no worker has started. A job processes every delivery pending when it
        starts (`bridge.services.pipeline.Pipeline.process_through`), and the worker clears the
        key before it looks (`started`), so that waiting job will take this delivery too. One
        `SET NX` per webhook instead of a job per webhook: under a storm, or with the workers
        stopped, the queue holds one job, not one per delivery. False (never raised) when
        Redis cannot be reached."""
        if self.paused:
            return False
        try:
            if not self.redis.set(WAKE_KEY, intake_id, nx=True, ex=WAKE_TTL):
                return True
        except RedisError as exc:
            self._pause(exc)
            return False
        return self.enqueue([intake_id])

    def started(self) -> None:
        """A job is starting: from now on a new delivery needs a job of its own (`wake`)."""
        try:
            self.redis.delete(WAKE_KEY)
        except RedisError as exc:
            self._pause(exc)  # the key expires by itself after WAKE_TTL

    def ping(self) -> str | None:
        """None when Redis answers, else what is wrong (for /readyz)."""
        try:
            self.redis.ping()
        except RedisError as exc:
            return f"{exc.__class__.__name__}: {exc}"
        return None

    def depth(self) -> int | None:
        """Jobs waiting on the queue; None when Redis does not answer."""
        try:
            return int(self.queue.count)
        except RedisError:
            return None

    @property
    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def _pause(self, exc: Exception) -> None:
        with self._lock:
            if not self.paused:
                log.warning(
                    "Redis unavailable (%s: %s); deliveries stay in the database and the sweeper "
                    "queues them; not trying Redis again for %.0fs",
                    exc.__class__.__name__,
                    exc,
                    PAUSE_AFTER_FAILURE,
                )
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE

    def close(self) -> None:
        self.redis.close()


class QueueHandoff:
    """The services' hand-off in production mode (`bridge.services.handoff.Handoff`): deliveries go
    to the rq queue; workers tick on their own for the rest.

    Hand-offs are batched. A job processes every delivery pending when it starts
    (`bridge.worker.jobs.process_intake`), so a job is queued only when none is waiting
    (`IntakeQueue.wake`), and a web process wakes the queue at most once per `interval`: the
    first hand-off of a quiet moment talks to Redis at once (a lone alert waits for nothing);
    those that follow within `interval` only leave their highest id, and a background thread
    wakes the queue for all of them when the interval is over. Under a storm a webhook thus
    costs no Redis round trip, and a delivery waits at most `interval` longer for its job. A
    hand-off lost with the process (killed before its Redis call) is found by the sweeper, like
    any other the queue did not take."""

    def __init__(self, queue: IntakeQueue, interval: float = WAKE_INTERVAL) -> None:
        self.queue = queue
        self.interval = interval
        self._lock = threading.Condition()
        self._waking = threading.Lock()
        """Held while talking to Redis: `flush` returns only after a wake in progress."""
        self._highest = 0
        """The highest id handed over since the last wake (0: none)."""
        self._last_wake = -interval
        self._flusher: threading.Thread | None = None
        self._closed = False

    def deliveries(self, intake_ids: Sequence[int]) -> bool:
        if not intake_ids:
            return True
        if self.queue.paused:
            return False
        with self._lock:
            self._highest = max(self._highest, *intake_ids)
            now = time.monotonic()
            if not self._closed and now - self._last_wake < self.interval:
                self._start_flusher()
                self._lock.notify()
                return True  # the flusher wakes the queue when the interval is over
            self._last_wake = now
        return self.flush()

    def flush(self) -> bool:
        """Wake the queue now for whatever was handed over since the last wake; returns once
        any wake in progress is done too. False when Redis could not be reached."""
        with self._waking:
            with self._lock:
                highest, self._highest = self._highest, 0
                self._last_wake = time.monotonic()
            return self.queue.wake(highest) if highest else True

    def close(self) -> None:
        """Wake the queue for what is left and stop the background thread."""
        with self._lock:
            self._closed = True
            self._lock.notify()
            flusher = self._flusher
        if flusher is not None:
            flusher.join(5)
        self.flush()

    def work(self) -> None:
        return None

    def _start_flusher(self) -> None:
        if self._flusher is None and not self._closed:
            self._flusher = threading.Thread(target=self._flush_loop, name="bridge-queue-wake", daemon=True)
            self._flusher.start()

    def _flush_loop(self) -> None:
        while True:
            with self._lock:
                while not self._highest and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                due = self._last_wake + self.interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                self.flush()
            except Exception:  # never dies: the sweeper covers a wake that failed
                log.exception("waking the queue failed")

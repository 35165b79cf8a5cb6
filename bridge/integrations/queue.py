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
    to the rq queue; workers tick on their own for the rest."""

    def __init__(self, queue: IntakeQueue) -> None:
        self.queue = queue

    def deliveries(self, intake_ids: Sequence[int]) -> bool:
        return self.queue.enqueue(intake_ids)

    def work(self) -> None:
        return None

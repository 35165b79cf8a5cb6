"""Helpers for production-mode tests: running queued jobs, a hung server, and bridge's state in a
form two runs can be compared by."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from typing import Any

from rq import Queue, SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.db.models import AlertRow, Incident, TimelineEntry
from bridge.integrations.queue import QUEUE_NAME, connect
from bridge.worker import jobs
from bridge.worker.runtime import Runtime


class _QuietWorker(SimpleWorker):
    """rq's worker without its command channel (`rq` CLI commands): unsubscribing from it waits
    up to a second for the listening thread, which would dominate a test draining the queue
    after every delivery. The jobs run exactly as in `bridge worker`."""

    def subscribe(self) -> None:
        pass

    def unsubscribe(self) -> None:
        pass


def run_queued_jobs(runtime: Runtime) -> int:
    """What a `bridge worker` does with the queue, here and now: a real rq worker (burst mode) in
    this process runs every queued job with `runtime`. Returns how many jobs were queued."""
    assert runtime.settings.redis_url is not None
    if runtime.handoff is not None:
        # A web process wakes the queue at most every 50 ms (the rest from a background thread
        # when the interval is over): here and now means after that wake, not before it.
        runtime.handoff.flush()
    jobs.install(runtime)
    redis = connect(runtime.settings.redis_url, 5.0)
    try:
        queue = Queue(QUEUE_NAME, connection=redis, serializer=JSONSerializer)
        waiting = queue.count
        worker = _QuietWorker([queue], connection=redis, serializer=JSONSerializer)
        worker.work(burst=True, logging_level="WARNING")
        failed = queue.failed_job_registry.get_job_ids()
        assert failed == [], f"jobs failed: {failed}"
        return int(waiting)
    finally:
        redis.close()


def queued(runtime: Runtime) -> int:
    assert runtime.settings.redis_url is not None
    redis = connect(runtime.settings.redis_url, 5.0)
    try:
        return int(Queue(QUEUE_NAME, connection=redis, serializer=JSONSerializer).count)
    finally:
        redis.close()


@contextlib.contextmanager
def hung_server() -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a Redis that hangs. Yields its URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        stop.set()
        thread.join(2)
        for connection in accepted:
            connection.close()
        listener.close()


def closed_port_url(scheme: str = "redis") -> str:
    """A URL to a port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if scheme == "redis":
        return f"redis://127.0.0.1:{port}/0"
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"


_INSTANT = re.compile(
    r"(\w{3} )?\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?( ?[A-Z]{2,5}|[+-]\d{2}:\d{2}|Z)?"
)
"""An instant written in a timeline text (a deadline, "firing since ...")."""


def state(sessions: sessionmaker[Session], *, with_times: bool = True) -> dict[str, Any]:
    """Incidents, alerts and timelines: what a person sees of the outcome, to compare runs.
    Without `with_times`, instants are left out (runs fed at different wall-clock times)."""

    def t(value: object) -> object:
        return value if with_times else None

    with sessions() as session:
        incidents = [
            (
                i.number,
                i.group_key,
                i.title,
                i.status,
                i.priority,
                i.alert_count,
                i.occurrence_count,
                i.reopen_count,
                t(i.opened_at),
                t(i.resolved_at),
            )
            for i in session.scalars(select(Incident).order_by(Incident.number))
        ]
        alerts = [
            (
                a.fingerprint,
                a.status,
                t(a.starts_at),
                t(a.ends_at),
                a.disposition,
                a.group_key,
                a.incident_number,
                a.occurrences,
            )
            for a in session.scalars(select(AlertRow).order_by(AlertRow.fingerprint))
        ]
        timeline = [
            (
                e.incident_number,
                t(e.at),
                e.kind,
                e.text if with_times else _INSTANT.sub("<time>", e.text),
                e.fingerprint,
            )
            for e in session.scalars(
                select(TimelineEntry).order_by(TimelineEntry.incident_number, TimelineEntry.id)
            )
        ]
    return {"incidents": incidents, "alerts": alerts, "timeline": timeline}

"""Faults on the real production stack: gunicorn with bridge's WSGI app and `bridge worker`
processes (rq on Redis), on a PostgreSQL and a Redis the tests start, killed and stopped for real.

- the stack turns webhooks into incidents and reports its readiness and metrics;
- kill -9 of a worker in the middle of a job: after a restart the state equals a clean run;
- Redis stopped during a stream of deliveries: every 2xx delivery is processed once it is back;
- PostgreSQL stopped: webhooks answer 503, none 2xx; after the restart, redelivery brings the
  state to what a clean run gives;
- 4 workers and 1,000 due timers: each fires exactly once.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, text

from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine
from bridge.db.intake import store_delivery
from bridge.db.migrate import upgrade
from bridge.db.models import Incident, TimelineEntry, Timer
from bridge.integrations.queue import QUEUE_NAME, connect
from bridge.services.live import LiveRules
from bridge.services.pipeline import Pipeline
from bridge.settings import Settings, normalize_database_url
from bridge.sources import parse_delivery
from bridge.worker.runtime import Runtime
from tests.conftest import unavailable
from tests.support.app import write_rules
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import Unavailable, cluster, fresh_database
from tests.support.production import state
from tests.support.redis import RedisServer, throwaway_redis
from tests.support.redis import Unavailable as RedisUnavailable
from tests.support.stack import Stack, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: drop-info
    match: {severity: info}
    action: drop
  - name: held
    match: {name: HeldBack}
    group_by: [host]
    for: 10m
"""
T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
NAMES = [("HostDown", "critical"), ("HighCPU", "high"), ("DiskFull", "warning"), ("Chatter", "info")]


def notification(index: int, size: int, hosts: int) -> bytes:
    """Delivery `index` of a stream: `size` alerts over `hosts` hosts that recur across deliveries;
    every fifth delivery resolves what it names."""
    alerts = []
    for j in range(size):
        host = (index * 7 + j) % hosts
        name, severity = NAMES[(index + j) % len(NAMES)]
        labels = {"instance": f"host-{host:03d}:9100", "severity": severity}
        fingerprint = f"{host:04d}{NAMES.index((name, severity)):012d}"
        if index % 5 == 4:
            alerts.append(
                am_alert(
                    name,
                    status="resolved",
                    starts_at=T0.isoformat(),
                    ends_at=(T0 + timedelta(hours=1)).isoformat(),
                    fingerprint=fingerprint,
                    **labels,
                )
            )
        else:
            alerts.append(am_alert(name, starts_at=T0.isoformat(), fingerprint=fingerprint, **labels))
    body = am_notification(*alerts)
    body["groupKey"] = f"stream-{index}"  # every delivery a distinct body
    return json.dumps(body).encode()


def distinct(index: int, size: int) -> bytes:
    """Delivery `index` with `size` alerts seen nowhere else (the outcome does not hang on order)."""
    alerts = [
        am_alert(
            "HighCPU",
            starts_at=T0.isoformat(),
            fingerprint=f"{index:06d}{j:010d}",
            instance=f"h{index % 7}-{j}:1",
            severity="high",
        )
        for j in range(size)
    ]
    return json.dumps(am_notification(*alerts)).encode()


def clean_run(server_url: str, rules_dir: Path, bodies: list[bytes]) -> dict[str, Any]:
    """The reference: the same deliveries, once each, in order, through the pipeline alone."""
    with fresh_database(server_url) as url:
        engine = create_db_engine(normalize_database_url(url))
        try:
            upgrade(engine)
            clock = FakeClock(datetime.now(UTC))
            # wired as in production (the rota's assignment is on every new incident's timeline)
            runtime = Runtime.build(
                Settings(database_url=normalize_database_url(url), rules_dir=rules_dir), clock
            )
            try:
                for raw in bodies:
                    now = clock.advance(timedelta(milliseconds=10))
                    store_delivery(
                        runtime.services.sessions, parse_delivery(Source.ALERTMANAGER, raw, now), raw, now
                    )
                    runtime.services.pipeline.process_pending()
                return comparable(state(runtime.services.sessions, with_times=False))
            finally:
                runtime.close()
        finally:
            engine.dispose()


def comparable(seen: dict[str, Any], *, ordered: bool = True) -> dict[str, Any]:
    """Incidents named by their group instead of their number: numbers never repeat, so those a
    rolled-back transaction took (a crash, a conflict) leave gaps, and which of two incidents
    opened in one batch gets the lower number is not part of the outcome. Each incident's own
    timeline keeps its order; without `ordered`, entries are compared as a set."""
    group = {i[0]: i[1] for i in seen["incidents"]}
    incidents = sorted(i[1:] for i in seen["incidents"])
    alerts = [(*a[:6], group.get(a[6]), *a[7:]) for a in seen["alerts"]]
    timeline = sorted(((group[e[0]], *e[1:]) for e in seen["timeline"]), key=lambda e: e[0])  # stable
    return {
        "incidents": incidents,
        "alerts": alerts,
        "timeline": timeline if ordered else sorted(timeline, key=repr),
    }


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", RULES)


@pytest.fixture
def database(postgres_server: str) -> Iterator[str]:
    with fresh_database(postgres_server) as url:
        yield url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis this test may stop and start."""
    try:
        with throwaway_redis(own=True) as server:
            yield server
    except RedisUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture
def stack(database: str, redis_url: str, rules_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    running = Stack(database, redis_url, rules_dir, tmp_path / "logs")
    running.migrate()
    yield running
    running.stop()


def test_the_stack_turns_webhooks_into_incidents_and_reports_readiness_and_metrics(stack: Stack) -> None:
    stack.start_web()
    workers = [stack.start_worker(), stack.start_worker()]
    bodies = [notification(i, 20, 10) for i in range(10)]
    assert [stack.post(raw).status_code for raw in bodies] == [202] * 10
    stack.wait_processed(10)
    incidents = stack.api("/api/incidents?limit=500")
    assert incidents["total"] == len(
        {
            (a["labels"]["instance"], a["labels"]["alertname"])
            for raw in bodies
            for a in json.loads(raw)["alerts"]
            if a["labels"]["severity"] != "info"
        }
    )
    ready = stack.http.get(f"{stack.url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "deliveries": "ok", "redis": "ok"}
    # Two gunicorn workers answered; the metrics add both up, whichever one is asked.
    metrics = stack.http.get(f"{stack.url}/metrics", timeout=5).text
    accepted = sum(
        float(v)
        for v in re.findall(
            r'^bridge_webhook_deliveries_total\{answer="202",source="alertmanager"\} (\S+)$', metrics, re.M
        )
    )
    assert accepted == 10
    assert 'bridge_intake{status="pending"} 0.0' in metrics
    # The workers lowered their CPU priority by BRIDGE_WORKER_NICE's default; the web tier did not.
    assert stack.web is not None
    web_nice = os.getpriority(os.PRIO_PROCESS, stack.web.pid)
    lowered = min(web_nice + 10, 19)
    for worker in workers:  # set once the worker has started up: wait for that (raises if never)
        wait_for(
            lambda pid=worker.pid: os.getpriority(os.PRIO_PROCESS, pid) == lowered,
            30,
            f"worker {worker.pid} at nice {lowered}, the web's {web_nice} + 10",
        )


def test_kill_9_of_a_worker_mid_job_then_a_restart_gives_the_state_of_a_clean_run(
    database: str, postgres_server: str, redis_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    # A long grace: the sweeper's own brief locks on intake must not pass for a job's transaction.
    stack = Stack(
        database,
        redis_url,
        rules_dir,
        tmp_path / "logs",
        web_workers=1,
        extra_env={"BRIDGE_SWEEP_GRACE": "5s"},
    )
    stack.migrate()
    try:
        stack.start_web()
        bodies = [notification(i, 200, 60) for i in range(40)]
        assert [stack.post(raw).status_code for raw in bodies] == [202] * len(bodies)
        worker = stack.start_worker()

        def in_a_transaction_on_intake() -> bool:
            """The worker holds intake rows FOR UPDATE: it is inside a batch, before its commit."""
            with stack.engine.connect() as connection:
                return bool(
                    connection.execute(
                        text(
                            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                            "WHERE l.relation = 'intake'::regclass AND l.mode = 'RowShareLock' "
                            "AND a.pid <> pg_backend_pid()"
                        )
                    ).scalar()
                )

        wait_for(
            lambda: stack.intake_counts().get("done", 0) > 0 and in_a_transaction_on_intake(),
            60,
            "a job in its transaction",
            interval=0.01,
        )
        stack.kill(worker)
        counts = stack.intake_counts()
        assert counts.get("pending", 0) > 0, counts
        redis = connect(redis_url, 5)
        started = StartedJobRegistry(queue=Queue(QUEUE_NAME, connection=redis, serializer=JSONSerializer))
        assert len(started.get_job_ids(cleanup=False)) == 1  # the job the worker died in
        redis.close()

        stack.start_worker()  # the restart
        stack.wait_processed(len(bodies))
        after = comparable(state(stack.sessions, with_times=False))
    finally:
        stack.stop()
    assert after == clean_run(postgres_server, rules_dir, bodies)


def test_redis_stopped_during_a_stream_every_2xx_delivery_is_processed_once_it_is_back(
    database: str, postgres_server: str, own_redis: RedisServer, rules_dir: Path, tmp_path: Path
) -> None:
    stack = Stack(database, own_redis.url, rules_dir, tmp_path / "logs")
    stack.migrate()
    try:
        stack.start_web()
        stack.start_worker()
        stack.start_worker()
        bodies = [distinct(i, 10) for i in range(45)]
        answers: list[int] = []
        slowest = 0.0
        for i, raw in enumerate(bodies):
            if i == 10:
                own_redis.stop()
            if i == 20:
                own_redis.start()
                own_redis.freeze()  # then it hangs: accepts connections, answers nothing
            if i == 30:
                own_redis.thaw()
            started = time.monotonic()
            answers.append(stack.post(raw).status_code)
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.1)
        assert answers == [202] * len(bodies)  # Redis down or hung never failed a webhook
        assert slowest < 2.0  # the 0.5 s Redis timeout at most, and not per request
        stack.wait_processed(len(bodies))
        after = comparable(state(stack.sessions, with_times=False), ordered=False)
        worker_logs = stack.log("worker-1") + stack.log("worker-2")
        web_log = stack.log("web")
    finally:
        stack.stop()
    assert "Redis unavailable" in web_log  # the web tier did see the outage
    assert "deliveries re-enqueued" in worker_logs or "processed here" in worker_logs
    reference = clean_run(postgres_server, rules_dir, bodies)
    assert after == {**reference, "timeline": sorted(reference["timeline"], key=repr)}


def test_postgresql_stopped_webhooks_answer_503_then_redelivery_gives_the_clean_run_state(
    redis_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    """On a PostgreSQL cluster of its own, since it stops it."""
    try:
        own = cluster()
        server = own.__enter__()
    except Unavailable as exc:
        unavailable(str(exc))
    try:
        with fresh_database(server.url) as database:
            stack = Stack(database, redis_url, rules_dir, tmp_path / "logs")
            stack.migrate()
            before = [notification(i, 50, 30) for i in range(10)]
            during = [notification(i, 50, 30) for i in range(10, 25)]
            try:
                stack.start_web()
                stack.start_worker()
                assert [stack.post(raw).status_code for raw in before] == [202] * len(before)
                stack.wait_processed(len(before))

                server.stop()
                refused = [stack.post(raw) for raw in during]
                assert [r.status_code for r in refused] == [503] * len(during)  # none 2xx
                assert all(r.headers["Retry-After"] for r in refused)
                ready = stack.http.get(f"{stack.url}/readyz", timeout=10)
                assert ready.status_code == 503 and ready.json()["down"] == ["database"]

                server.start()
                wait_for(
                    lambda: stack.http.get(f"{stack.url}/readyz", timeout=10).status_code == 200,
                    30,
                    "ready again",
                )
                # What Alertmanager does with a 5xx: it sends the same notifications again.
                assert [stack.post(raw).status_code for raw in during] == [202] * len(during)
                stack.wait_processed(len(before) + len(during))
                after = comparable(state(stack.sessions, with_times=False))
            finally:
                stack.stop()
            reference = clean_run(server.url, rules_dir, before + during)
    finally:
        own.__exit__(None, None, None)
    assert after == reference


def test_four_workers_and_1000_due_timers_each_fires_exactly_once(
    database: str, redis_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    stack = Stack(database, redis_url, rules_dir, tmp_path / "logs")
    stack.migrate()
    try:
        # 1,000 groups held by `for: 10m`, received 11 minutes ago: their timers are all due.
        received = datetime.now(UTC) - timedelta(minutes=11)
        pipeline = Pipeline(stack.sessions, LiveRules(rules_dir), FakeClock(received))
        for batch in range(10):
            alerts = [
                am_alert(
                    "HeldBack",
                    starts_at=received.isoformat(),
                    fingerprint=f"{batch:03d}{n:013d}",
                    instance=f"held-{batch}-{n}:1",
                )
                for n in range(100)
            ]
            raw = json.dumps(am_notification(*alerts)).encode()
            store_delivery(stack.sessions, parse_delivery(Source.ALERTMANAGER, raw, received), raw, received)
        while pipeline.process_pending().deliveries:
            pass
        with stack.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Timer).where(Timer.kind == "hold")) == 1000
            assert session.scalar(select(func.count()).select_from(Incident)) == 0

        workers = [stack.start_worker() for _ in range(4)]

        def timers_left() -> int:
            with stack.sessions() as session:
                return int(
                    session.scalar(select(func.count()).select_from(Timer).where(Timer.kind == "hold")) or 0
                )

        wait_for(lambda: timers_left() == 0, 120, "every hold timer fired", interval=0.2)
        time.sleep(1)  # a double firing would show up now
        with stack.sessions() as session:
            incidents = list(session.scalars(select(Incident)))
            opened = Counter(
                session.scalars(select(TimelineEntry.incident_number).where(TimelineEntry.kind == "opened"))
            )
        logs = [stack.log(f"worker-{n}") for n in range(1, 5)]
    finally:
        stack.stop()
    assert len(incidents) == 1000
    assert len({i.group_key for i in incidents}) == 1000  # one per group, none twice
    assert set(opened.values()) == {1} and len(opened) == 1000
    fired = [sum(int(n) for n in re.findall(r"tick: (\d+) timers fired", log)) for log in logs]
    assert sum(fired) == 1000  # as the workers report it: 1,000 firings in all
    assert sum(1 for f in fired if f) >= 2, fired  # and more than one worker took part
    assert all(w.returncode is not None for w in workers)

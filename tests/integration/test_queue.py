"""Production mode in one process: webhooks enqueue on a real Redis, a real rq worker runs the
jobs, the sweeper catches what the queue lost, and neither Redis nor the database failing loses
or half-writes a delivery. (The same with real processes: tests/e2e/test_production_stack.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bridge.alert import Source
from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.db.intake import store_delivery
from bridge.db.models import AlertRow, Incident, Intake
from bridge.services.pipeline import MAX_ATTEMPTS
from bridge.services.state_store import StateStore
from bridge.services.sweeper import Swept
from bridge.sources import parse_delivery
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, build_runtime, make_settings, write_rules
from tests.support.payloads import am_alert, am_notification, captured
from tests.support.production import closed_port_url, hung_server, queued, run_queued_jobs


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


def make_runtime(
    database_url: str, rules_dir: Path, clock: FakeClock, redis_url: str, **more: object
) -> Runtime:
    settings = make_settings(database_url, rules_dir, redis_url=redis_url, redis_timeout=0.5, **more)
    return build_runtime(settings, clock)


@pytest.fixture
def runtime(database_url: str, rules_dir: Path, clock: FakeClock, redis_url: str) -> Iterator[Runtime]:
    built = make_runtime(database_url, rules_dir, clock, redis_url)
    yield built
    built.close()


def post(client: FlaskClient, body: dict[str, object] | bytes) -> tuple[int, dict[str, object]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.post(
        "/webhooks/alertmanager",
        data=data,
        headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
    )
    return response.status_code, response.get_json()


def notification(clock: FakeClock, name: str, instance: str = "h:1") -> bytes:
    return json.dumps(
        am_notification(am_alert(name, starts_at=clock.now().isoformat(), instance=instance))
    ).encode()


def statuses(runtime: Runtime) -> list[str]:
    with runtime.services.sessions() as session:
        return list(session.scalars(select(Intake.status).order_by(Intake.id)))


def incident_count(runtime: Runtime) -> int:
    with runtime.services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Incident)) or 0)


def store(runtime: Runtime, raw: bytes) -> int:
    now = runtime.services.clock.now()
    stored = store_delivery(
        runtime.services.sessions, parse_delivery(Source.ALERTMANAGER, raw, now), raw, now
    )
    assert stored.intake_id is not None
    return stored.intake_id


def test_a_webhook_enqueues_a_job_and_a_worker_turns_it_into_an_incident(runtime: Runtime) -> None:
    client = create_app(runtime=runtime).test_client()
    assert post(client, captured("alertmanager/01-firing-single.json").body_raw) == (202, {"accepted": 1})
    assert statuses(runtime) == ["pending"]
    assert queued(runtime) == 1
    assert run_queued_jobs(runtime) == 1
    assert statuses(runtime) == ["done"]
    assert incident_count(runtime) == 1
    assert queued(runtime) == 0


def test_webhooks_stored_while_a_job_waits_queue_no_more_jobs_and_that_job_takes_them(
    runtime: Runtime,
) -> None:
    """A job processes every delivery pending when it starts: while one waits unstarted, more
    webhooks need none of their own (with the workers stopped the queue holds one job, not one per
    webhook). Once a worker has started it, the next webhook queues a new one."""
    client = create_app(runtime=runtime).test_client()
    for n in range(3):
        assert post(client, notification(runtime.services.clock, f"Disk{n}", f"h{n}:1"))[0] == 202
    assert runtime.handoff is not None
    runtime.handoff.flush()  # the web process's batched wake, done now rather than within 50 ms
    assert queued(runtime) == 1
    assert run_queued_jobs(runtime) == 1
    assert statuses(runtime) == ["done"] * 3
    assert post(client, notification(runtime.services.clock, "Disk9", "h9:1"))[0] == 202
    runtime.handoff.flush()
    assert queued(runtime) == 1
    run_queued_jobs(runtime)
    assert statuses(runtime) == ["done"] * 4


def test_a_job_takes_the_deliveries_left_pending_before_it_in_order(runtime: Runtime) -> None:
    """A delivery whose job was lost goes through with the next job, before it, not after."""
    first = store(runtime, notification(runtime.services.clock, "DiskFull"))
    runtime.services.clock.advance(timedelta(seconds=1))
    body = am_notification(
        am_alert(
            "DiskFull",
            status="resolved",
            starts_at=(runtime.services.clock.now() - timedelta(seconds=1)).isoformat(),
            ends_at=runtime.services.clock.now().isoformat(),
            instance="h:1",
        )
    )
    second = store(runtime, json.dumps(body).encode())
    assert runtime.queue is not None and runtime.queue.enqueue([second])
    run_queued_jobs(runtime)
    with runtime.services.sessions() as session:
        rows = {r.id: (r.status, r.processed_at) for r in session.scalars(select(Intake))}
    assert rows[first][0] == rows[second][0] == "done"

    with runtime.services.sessions() as session:
        alert = session.scalars(select(AlertRow)).one()
    assert alert.status == "resolved"  # the firing one came first: the resolution is not rolled back


def test_with_redis_refusing_connections_webhooks_still_accept_and_the_sweeper_processes(
    database_url: str, rules_dir: Path, clock: FakeClock
) -> None:
    runtime = make_runtime(
        database_url, rules_dir, clock, closed_port_url(), sweep_grace=timedelta(seconds=30)
    )
    try:
        client = create_app(runtime=runtime).test_client()
        for n in range(3):
            assert post(client, notification(clock, f"Down{n}"))[0] == 202
        assert statuses(runtime) == ["pending"] * 3
        assert runtime.sweeper is not None
        assert runtime.sweeper.run() == Swept()  # within the grace period: the queue may still bring them
        clock.advance(timedelta(seconds=31))
        assert runtime.sweeper.run() == Swept(processed_here=3)  # Redis is still down: done here
        assert statuses(runtime) == ["done"] * 3
    finally:
        runtime.close()


def test_a_hung_redis_costs_one_short_timeout_and_then_none(
    database_url: str, rules_dir: Path, clock: FakeClock
) -> None:
    with hung_server() as url:
        runtime = make_runtime(database_url, rules_dir, clock, url)
        try:
            client = create_app(runtime=runtime).test_client()
            timings = []
            for n in range(5):
                started = time.monotonic()
                assert post(client, notification(clock, f"Hung{n}"))[0] == 202
                timings.append(time.monotonic() - started)
            assert 0.4 <= timings[0] < 3.0  # the 0.5 s Redis timeout, once
            assert max(timings[1:]) < 0.4  # then Redis is left alone for a while
            assert statuses(runtime) == ["pending"] * 5
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert ready.get_json()["down"] == ["redis"]
        finally:
            runtime.close()


def test_the_sweeper_requeues_what_waited_past_the_grace_once_per_grace(runtime: Runtime) -> None:
    ids = [
        store(runtime, notification(runtime.services.clock, f"Lost{n}")) for n in range(4)
    ]  # jobs never queued
    assert runtime.sweeper is not None
    assert runtime.sweeper.run() == Swept()
    runtime.services.clock.advance(timedelta(seconds=31))
    assert runtime.sweeper.run() == Swept(requeued=4)
    assert runtime.sweeper.run() == Swept()  # taken up already: not again within the grace period
    assert queued(runtime) == 4
    run_queued_jobs(runtime)
    assert statuses(runtime) == ["done"] * 4
    runtime.services.clock.advance(timedelta(seconds=31))
    assert runtime.sweeper.run() == Swept()
    assert len(ids) == incident_count(runtime)


def test_a_delivery_that_keeps_failing_comes_back_per_grace_then_is_parked_and_can_be_retried(
    runtime: Runtime, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = StateStore.apply

    def apply_with_a_bug(self: StateStore, decision: object, alert: object, now: object) -> None:
        if alert is not None and alert.name == "Poison":  # type: ignore[attr-defined]
            raise RuntimeError("a bug that only this alert triggers")
        original(self, decision, alert, now)  # type: ignore[arg-type]

    monkeypatch.setattr(StateStore, "apply", apply_with_a_bug)
    client = create_app(runtime=runtime).test_client()
    assert post(client, notification(runtime.services.clock, "Poison"))[0] == 202
    assert post(client, notification(runtime.services.clock, "Fine"))[0] == 202
    run_queued_jobs(runtime)
    assert statuses(runtime) == ["pending", "done"]
    assert runtime.sweeper is not None
    for _ in range(MAX_ATTEMPTS - 1):
        runtime.services.clock.advance(timedelta(seconds=31))
        assert runtime.sweeper.run() == Swept(requeued=1)
        run_queued_jobs(runtime)
    assert statuses(runtime) == ["failed", "done"]
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    parked = client.get("/api/intake?status=failed", headers=admin).get_json()["items"]
    assert len(parked) == 1 and "a bug that only this alert triggers" in parked[0]["error"]

    monkeypatch.setattr(StateStore, "apply", original)  # the bug is fixed
    result = CliRunner().invoke(
        main,
        ["intake", "retry", "--all"],
        env={"BRIDGE_DATABASE_URL": database_url, "BRIDGE_REDIS_URL": runtime.settings.redis_url},
    )
    assert result.exit_code == 0, result.output
    assert f"1 deliveries back to pending (queued for the workers): {parked[0]['id']}" in result.output
    run_queued_jobs(runtime)
    assert statuses(runtime) == ["done", "done"]
    assert incident_count(runtime) == 2
    answer = client.post("/api/intake/retry", json={"all": True}, headers=admin)
    assert answer.status_code == 200 and answer.get_json() == {"retried": []}
    assert client.post("/api/intake/retry", json={}, headers=admin).status_code == 400


def test_readiness_names_what_is_down(
    database_url: str, rules_dir: Path, clock: FakeClock, redis_url: str
) -> None:
    for db, redis, down in (
        (database_url, redis_url, None),
        (database_url, closed_port_url(), ["redis"]),
        (closed_port_url("postgresql"), redis_url, ["database"]),
        (closed_port_url("postgresql"), closed_port_url(), ["database", "redis"]),
    ):
        runtime = make_runtime(db, rules_dir, clock, redis)
        try:
            answer = create_app(runtime=runtime).test_client().get("/readyz")
            body = answer.get_json()
            assert answer.status_code == (200 if down is None else 503), body
            assert body.get("down") == down
            # How deliveries fare is told only when the database could be asked.
            database_up = "database" not in (down or [])
            assert set(body["checks"]) == {"database", "redis"} | ({"deliveries"} if database_up else set())
        finally:
            runtime.close()


def test_with_the_database_down_webhooks_and_the_api_answer_503_and_store_nothing(
    rules_dir: Path, clock: FakeClock, redis_url: str
) -> None:
    runtime = make_runtime(closed_port_url("postgresql"), rules_dir, clock, redis_url)
    try:
        client = create_app(runtime=runtime).test_client()
        status, body = post(client, notification(clock, "Nowhere"))
        assert status == 503 and "cannot store" in str(body["error"])
        api = client.get("/api/incidents", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert api.status_code == 503 and api.headers["Retry-After"] == "5"
        assert queued(runtime) == 0  # nothing enqueued for a delivery that was not stored
    finally:
        runtime.close()

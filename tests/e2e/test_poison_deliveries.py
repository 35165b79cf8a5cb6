"""A delivery the database cannot take fails alone; a database that is down or locked fails nothing.

The bad deliveries are written straight into the intake log, as a webhook stored them before the
door learned to refuse them (or as a bridge of tomorrow might store what the database of today
refuses): what is tested is the worker, not the door. Where the door would refuse the value by
now, a trigger makes the database refuse an otherwise good one, the way PostgreSQL refuses a
value too long for its column (SQLSTATE 22001), and a trigger cuts the connection mid-batch, the
way a restarting server does (57P01).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine
from bridge.db.failures import Failure, classify
from bridge.db.migrate import upgrade
from bridge.db.models import Intake, IntakeStatus
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.conftest import START, _truncate
from tests.support.api import Api
from tests.support.app import build_runtime, make_settings, write_rules
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import fresh_database

REFUSE_BY_NAME = """
CREATE FUNCTION refuse_by_name() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name = 'Refused' THEN
    RAISE EXCEPTION 'value too long for type character varying(200)' USING ERRCODE = '22001';
  END IF;
  IF NEW.name = 'CutOff' THEN
    PERFORM pg_terminate_backend(pg_backend_pid());
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_by_name BEFORE INSERT OR UPDATE ON alerts FOR EACH ROW EXECUTE FUNCTION refuse_by_name();
"""


@pytest.fixture(scope="module")
def poisoned_postgres(postgres_server: str) -> Iterator[str]:
    """A database of its own for this module, whose alerts table refuses two alert names."""
    with fresh_database(postgres_server) as url:
        engine = create_db_engine(url)
        upgrade(engine)
        with engine.begin() as connection:
            connection.exec_driver_sql(REFUSE_BY_NAME)
        engine.dispose()
        yield url


@pytest.fixture
def postgres_runtime(poisoned_postgres: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    _truncate(poisoned_postgres)
    runtime = build_runtime(make_settings(poisoned_postgres, write_rules(tmp_path / "rules")), clock)
    yield runtime
    runtime.close()


def notification(name: str, **labels: str) -> bytes:
    alert = am_alert(name, starts_at=START.isoformat(), instance=f"{name.lower()}:9100", **labels)
    return json.dumps(am_notification(alert)).encode()


def store_directly(runtime: Runtime, key: str, body: bytes) -> int:
    """A delivery in the intake log that no webhook checked."""
    with runtime.services.sessions() as session, session.begin():
        row = Intake(
            source="alertmanager",
            dedup_key=key,
            received_at=runtime.services.clock.now(),
            body=body,
            alert_count=1,
            status=IntakeStatus.PENDING,
            attempts=0,
        )
        session.add(row)
        session.flush()
        return row.id


def intake(runtime: Runtime) -> list[tuple[str, int, str | None]]:
    with runtime.services.sessions() as session:
        rows = session.scalars(select(Intake).order_by(Intake.id))
        return [(r.status, r.attempts, r.error) for r in rows]


def incident_titles(api: Api) -> set[str]:
    return {i["title"] for i in api.incidents()}


@pytest.mark.postgres
def test_a_poison_delivery_is_bisected_out_parked_with_its_error_and_reported(
    postgres_runtime: Runtime,
) -> None:
    runtime = postgres_runtime
    client: FlaskClient = create_app(runtime=runtime).test_client()
    api = Api(client, runtime)
    assert api.alertmanager(notification("Before")).status_code == 202
    store_directly(runtime, "nul", notification("HasNul", team="a\u0000b"))
    store_directly(runtime, "refused", notification("Refused"))
    store_directly(runtime, "surrogate", notification("HasSurrogate", team="a\ud800b"))
    for n in range(5):
        assert api.alertmanager(notification(f"After{n}")).status_code == 202

    api.drain()  # one batch of nine, three of them poison: no exception, nothing left pending

    rows = intake(runtime)
    assert [(status, attempts) for status, attempts, _ in rows] == [("done", 0)] + [("failed", 1)] * 3 + [
        ("done", 0)
    ] * 5
    nul_error, refused_error, surrogate_error = rows[1][2], rows[2][2], rows[3][2]
    # Refused by PostgreSQL ("\u0000 cannot be converted to text"), or by the parser once the
    # door looks for NUL itself ("contains a NUL character (\u0000)"): parked either way.
    assert nul_error is not None and "\\u0000" in nul_error, nul_error
    assert refused_error == "StringDataRightTruncation: value too long for type character varying(200)"
    # The driver cannot encode it ("surrogates not allowed"), or the door's JSON reader refuses it.
    assert surrogate_error is not None and "surrogate" in surrogate_error, surrogate_error
    assert {"Before", *(f"After{n}" for n in range(5))} <= {t.split(" ")[0] for t in incident_titles(api)}

    ready = client.get("/readyz")
    body = ready.get_json()
    assert ready.status_code == 200  # webhooks are still stored: degraded, not out of the balancer
    assert body["status"] == "degraded" and body["degraded"] == ["deliveries"]
    assert body["checks"]["deliveries"].startswith("degraded: 3 parked as failed")
    assert body["deliveries"] == {"pending": 0, "parked": 3, "oldest_pending_seconds": 0.0}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_intake{status="failed"} 3.0' in metrics
    assert 'bridge_intake{status="pending"} 0.0' in metrics
    assert "bridge_intake_oldest_pending_seconds 0.0" in metrics

    # What comes next flows as ever.
    assert api.alertmanager(notification("Later")).status_code == 202
    assert api.drain() == 1
    assert intake(runtime)[-1][:2] == ("done", 0)


@pytest.mark.postgres
def test_a_lost_connection_mid_batch_leaves_every_delivery_pending_and_parks_none(
    postgres_runtime: Runtime, poisoned_postgres: str
) -> None:
    runtime = postgres_runtime
    api = Api(create_app(runtime=runtime).test_client(), runtime)
    for name in ("First", "CutOff", "Last"):
        assert api.alertmanager(notification(name)).status_code == 202

    with pytest.raises(OperationalError) as lost:
        api.drain()
    assert classify(lost.value) is Failure.UNAVAILABLE
    assert intake(runtime) == [("pending", 0, None)] * 3  # nothing decided, nothing blamed

    engine = create_db_engine(poisoned_postgres)  # the server is back, and so is CutOff's data
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE alerts DISABLE TRIGGER refuse_by_name"))
    try:
        assert api.drain() == 3
        assert [status for status, _, _ in intake(runtime)] == ["done"] * 3
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE alerts ENABLE TRIGGER refuse_by_name"))
        engine.dispose()


def test_a_locked_sqlite_database_is_busy_not_poison(
    tmp_path: Path, clock: FakeClock, sqlite_template: Path
) -> None:
    path = tmp_path / "bridge.db"
    path.write_bytes(sqlite_template.read_bytes())
    settings = make_settings(f"sqlite:///{path}", write_rules(tmp_path / "rules"), db_timeout=0.2)
    runtime = build_runtime(settings, clock)
    try:
        api = Api(create_app(runtime=runtime).test_client(), runtime)
        for name in ("One", "Two"):
            assert api.alertmanager(notification(name)).status_code == 202
        blocker = sqlite3.connect(path, isolation_level=None)  # another process writing, for long
        blocker.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(OperationalError) as locked:
                api.drain()
            assert classify(locked.value) is Failure.BUSY
            assert intake(runtime) == [("pending", 0, None)] * 2
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert api.drain() == 2
    finally:
        runtime.close()


def test_a_delivery_pending_for_over_five_minutes_makes_readyz_degraded(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    runtime = build_runtime(make_settings(database_url, write_rules(tmp_path / "rules")), clock)
    try:
        client = create_app(runtime=runtime).test_client()
        api = Api(client, runtime)
        assert api.alertmanager(notification("Waiting")).status_code == 202  # no worker runs here
        clock.advance(timedelta(minutes=5))
        ready = client.get("/readyz").get_json()
        assert (ready["status"], ready["deliveries"]) == (
            "ready",  # five minutes is the limit, not yet past it
            {"pending": 1, "parked": 0, "oldest_pending_seconds": 300.0},
        )
        clock.advance(timedelta(seconds=61))
        answer = client.get("/readyz")
        ready = answer.get_json()
        assert answer.status_code == 200
        assert ready["status"] == "degraded"
        assert ready["checks"] == {"database": "ok", "deliveries": "degraded: oldest pending for 361s"}
        assert "bridge_intake_oldest_pending_seconds 361.0" in client.get("/metrics").get_data(as_text=True)
        api.drain()
        assert client.get("/readyz").get_json()["status"] == "ready"
    finally:
        runtime.close()

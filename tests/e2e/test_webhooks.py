"""The webhook contract: exact status codes, and nothing stored unless the answer is 2xx."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from bridge.alert import Status
from bridge.clock import FakeClock
from bridge.db.models import Intake
from bridge.settings import Settings
from bridge.web.app import create_app
from bridge.web.webhooks import WebhookIntake
from bridge.worker.runtime import Runtime
from tests.support.api import Api
from tests.support.app import AM_TOKEN, ZBX_TOKEN, build_runtime
from tests.support.payloads import all_captured, body, captured


def stored(runtime: Runtime) -> int:
    with runtime.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Intake)) or 0


@pytest.mark.parametrize("path", all_captured("alertmanager") + all_captured("zabbix"))
def test_every_captured_delivery_is_accepted_and_stored(api: Api, runtime: Runtime, path: str) -> None:
    capture = captured(path)
    post = api.alertmanager if path.startswith("alertmanager") else api.zabbix
    response = post(capture.body_raw)
    assert response.status_code == 202
    with runtime.services.sessions() as session:
        (row,) = session.scalars(select(Intake))
    assert row.body == capture.body_raw  # exactly as posted
    if path.startswith("alertmanager"):
        assert response.get_json() == {"accepted": len(capture.alerts())}
        assert row.status == "pending"  # the worker decides it
    else:  # decided at once, so that the answer can carry the incident for Zabbix's event tags
        (alert,) = capture.alerts()
        link = f"http://localhost/zabbix/events/{alert.labels['zabbix_instance']}/{alert.source_ref}"
        tags = {"__zbx_bridge_incident": "INC-1", "__zbx_bridge_url": link}
        if alert.status is Status.RESOLVED:
            # a problem bridge never saw fire opens no incident; its page is true all the same, and
            # a recovery's answer is stored on the OK event, which gets no tags
            tags = {} if alert.update is None else {"__zbx_bridge_url": link}
        assert response.get_json() == {"accepted": 1, "tags": tags}
        assert row.status == "done"


def test_a_redelivery_is_accepted_again_but_stored_once(api: Api, runtime: Runtime) -> None:
    first = api.alertmanager(captured("alertmanager/01-firing-single.json").body_raw)
    again = api.alertmanager(captured("alertmanager/02-repeat-single.json").body_raw)
    assert (first.status_code, first.get_json()) == (202, {"accepted": 1})
    assert (again.status_code, again.get_json()) == (202, {"accepted": 1, "duplicate": True})
    assert stored(runtime) == 1


@pytest.mark.parametrize(
    ("authorization", "endpoint"),
    [
        (None, "alertmanager"),
        ("Bearer wrong", "alertmanager"),
        (f"Bearer {ZBX_TOKEN}", "alertmanager"),
        (f"Bearer {AM_TOKEN}", "zabbix"),
        (f"Token {AM_TOKEN}", "alertmanager"),
        ("Bearer ", "zabbix"),
    ],
)
def test_missing_or_wrong_token_is_401_and_stores_nothing(
    client: FlaskClient, runtime: Runtime, authorization: str | None, endpoint: str
) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    path = "alertmanager/01-firing-single.json" if endpoint == "alertmanager" else "zabbix/01-problem.json"
    response = client.post(f"/webhooks/{endpoint}", data=captured(path).body_raw, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"] == "missing or wrong bearer token"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="bridge"'
    assert stored(runtime) == 0


def test_alertmanager_basic_auth_with_the_token_as_password(api: Api) -> None:
    capture = captured("alertmanager/08-firing-single-basic-auth.json")
    good = base64.b64encode(f"alertmanager:{AM_TOKEN}".encode()).decode()
    assert api.alertmanager(capture.body_raw, token="", Authorization=f"Basic {good}").status_code == 202
    assert (
        api.alertmanager(
            capture.body_raw, token="", Authorization=capture.headers["Authorization"]
        ).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (
            b"{not json",
            "body: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (b'{"alerts": [{"status": "firing"}]}', "alerts[0].labels: missing"),
        (b'{"version": "3", "alerts": []}', "version: expected webhook version 4, got '3'"),
        (b"\xff", "body: not UTF-8 text (invalid start byte at byte 0)"),
    ],
)
def test_malformed_alertmanager_body_is_400_with_the_reason(
    api: Api, runtime: Runtime, raw: bytes, error: str
) -> None:
    response = api.alertmanager(raw)
    assert response.status_code == 400
    assert response.get_json()["error"] == error
    assert stored(runtime) == 0


def test_malformed_zabbix_body_is_400_with_the_reason(api: Api, runtime: Runtime) -> None:
    payload = body("zabbix/01-problem.json")
    payload["event"]["nseverity"] = "7"
    response = api.zabbix(payload)
    assert (response.status_code, response.get_json()) == (
        400,
        {
            "error": "event.nseverity: must be 0..5, got '7'",
            "detail": {"code": "bad_request", "field": "event.nseverity"},
        },
    )
    assert stored(runtime) == 0


def test_non_json_content_type_is_415(api: Api, runtime: Runtime) -> None:
    response = api.alertmanager(
        captured("alertmanager/01-firing-single.json").body_raw, **{"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.get_json()["error"] == "Content-Type must be application/json, got text/plain"
    assert stored(runtime) == 0


def test_json_with_a_charset_is_fine(api: Api) -> None:
    raw = captured("alertmanager/01-firing-single.json").body_raw
    assert api.alertmanager(raw, **{"Content-Type": "application/json; charset=utf-8"}).status_code == 202


def test_body_over_the_limit_is_413_and_stores_nothing(settings: Settings, clock: FakeClock) -> None:
    runtime = build_runtime(settings.with_overrides(max_body_bytes=1024), clock)
    try:
        client = create_app(runtime=runtime).test_client()
        raw = captured("alertmanager/03-firing-grouped.json").body_raw
        assert len(raw) > 1024
        response = client.post(
            "/webhooks/alertmanager",
            data=raw,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"},
        )
        assert response.status_code == 413
        assert response.get_json()["error"] == "body larger than 1024 bytes"
        assert stored(runtime) == 0
    finally:
        runtime.close()


def test_database_that_cannot_store_answers_503_so_the_sender_retries(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    if settings.is_sqlite:  # another process holds the write lock for longer than bridge waits
        path = settings.database_url.removeprefix("sqlite:///")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        broken = settings.with_overrides(db_timeout=0.2)
    else:  # the database is gone
        blocker = None
        broken = settings.with_overrides(
            database_url=settings.database_url.rsplit("/", 1)[0] + "/no_such_db", db_timeout=1.0
        )
    runtime = build_runtime(broken, clock)
    try:
        client = create_app(runtime=runtime).test_client()
        response = client.post(
            "/webhooks/alertmanager",
            data=captured("alertmanager/01-firing-single.json").body_raw,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"},
        )
        assert response.status_code == 503
        assert response.get_json()["error"].startswith("cannot store the delivery")
        assert response.headers["Retry-After"] == "5"
        ready = client.get("/readyz")
        if blocker is None:
            assert ready.status_code == 503
            assert ready.get_json()["checks"]["database"].startswith("down")
    finally:
        runtime.close()
        if blocker is not None:
            blocker.execute("ROLLBACK")
            blocker.close()
    healthy = build_runtime(settings, clock)
    try:
        assert stored(healthy) == 0
    finally:
        healthy.close()


def test_health_readiness_and_metrics(api: Api, client: FlaskClient) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert (ready.status_code, ready.get_json()) == (
        200,
        {
            "status": "ready",
            "checks": {"database": "ok", "deliveries": "ok"},
            "deliveries": {"pending": 0, "parked": 0, "oldest_pending_seconds": 0.0},
        },
    )
    api.alertmanager(captured("alertmanager/03-firing-grouped.json").body_raw)
    api.alertmanager(b"{}")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'bridge_webhook_deliveries_total{answer="202",source="alertmanager"} 1.0' in metrics
    assert 'bridge_webhook_deliveries_total{answer="400",source="alertmanager"} 1.0' in metrics
    assert 'bridge_alerts_received_total{source="alertmanager"} 3.0' in metrics
    assert 'bridge_intake{status="pending"} 1.0' in metrics


def test_the_answer_and_logs_never_echo_the_token(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    response = api.alertmanager(b"{bad", token="a-secret-that-is-wrong")
    assert b"a-secret-that-is-wrong" not in response.get_data()
    response = api.alertmanager(b"{bad")
    assert AM_TOKEN.encode() not in response.get_data()
    assert AM_TOKEN not in caplog.text and "a-secret-that-is-wrong" not in caplog.text


def test_unknown_endpoint_and_method_are_json(client: FlaskClient) -> None:
    assert client.get("/nope").get_json()["error"] == "no such endpoint"
    assert client.get("/webhooks/alertmanager").status_code == 405
    assert json.loads(client.get("/webhooks/alertmanager").get_data()) == {
        "error": "method not allowed",
        "detail": {"code": "method_not_allowed"},
    }


def test_the_alertmanager_fast_path_answers_byte_for_byte_as_the_view(app: Flask, runtime: Runtime) -> None:
    """`WebhookIntake` answers the usual delivery before Flask: the same status, headers and
    body as the view gives (here: the view alone, the fast path taken off), new and redelivered,
    and counted alike; what it does not take (a bad token, a bad body) the view answers."""
    assert isinstance(app.wsgi_app, WebhookIntake)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"}

    def answers(raw: bytes) -> list[tuple[str, list[tuple[str, str]], bytes]]:
        client = app.test_client()
        posted = [client.post("/webhooks/alertmanager", data=raw, headers=headers) for _ in range(2)]
        return [(r.status, list(r.headers.items()), r.get_data()) for r in posted]

    fast = answers(captured("alertmanager/01-firing-single.json").body_raw)
    fast_path = app.wsgi_app
    app.wsgi_app = fast_path.flask_app  # type: ignore[method-assign]
    view = answers(captured("alertmanager/09-prometheus-up-firing.json").body_raw)
    app.wsgi_app = fast_path  # type: ignore[method-assign]
    assert fast == view
    assert [body for _, _, body in fast] == [b'{"accepted":1}\n', b'{"accepted":1,"duplicate":true}\n']
    refused = app.test_client().post("/webhooks/alertmanager", data=b'{"alerts": 1}', headers=headers)
    assert refused.status_code == 400 and refused.get_json()["detail"]["field"] == "alerts"
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'bridge_webhook_deliveries_total{answer="202",source="alertmanager"} 4.0' in metrics
    assert 'bridge_webhook_deliveries_total{answer="400",source="alertmanager"} 1.0' in metrics
    assert stored(runtime) == 2


def test_the_zabbix_fast_path_answers_byte_for_byte_as_the_view(app: Flask, runtime: Runtime) -> None:
    """Zabbix's usual delivery too: its answer with tags (the event's page, the incident decided in
    the request) and its redelivery's, as the view gives them; a host Flask refuses goes to it."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {ZBX_TOKEN}"}

    def answers(raw: bytes) -> list[tuple[str, list[tuple[str, str]], bytes]]:
        client = app.test_client()
        posted = [client.post("/webhooks/zabbix", data=raw, headers=headers) for _ in range(2)]
        return [(r.status, list(r.headers.items()), r.get_data()) for r in posted]

    fast_path = app.wsgi_app
    assert isinstance(fast_path, WebhookIntake)
    flask_app, passed = fast_path.flask_app, []
    fast_path.flask_app = lambda environ, start: passed.append(environ) or flask_app(environ, start)
    fast = answers(captured("zabbix/01-problem.json").body_raw)
    assert passed == []  # answered before Flask
    fast_path.flask_app = flask_app
    app.wsgi_app = flask_app  # type: ignore[method-assign]
    view = answers(captured("zabbix/06-problem-second.json").body_raw)  # event 26, in incident 1 too
    app.wsgi_app = fast_path  # type: ignore[method-assign]
    assert fast == [(s, h, b.replace(b"/26", b"/24")) for s, h, b in view]
    link = "http://localhost/zabbix/events/zbx-acceptance/24"
    assert [json.loads(body) for _, _, body in fast] == [
        {"accepted": 1, "tags": {"__zbx_bridge_url": link, "__zbx_bridge_incident": "INC-1"}},
        {
            "accepted": 1,
            "duplicate": True,
            "tags": {"__zbx_bridge_url": link, "__zbx_bridge_incident": "INC-1"},
        },
    ]
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'bridge_webhook_deliveries_total{answer="202",source="zabbix"} 4.0' in metrics

    app.config["TRUSTED_HOSTS"] = ["bridge.example"]
    refused = app.test_client().post("/webhooks/zabbix", data=b"{}", headers=headers)
    assert refused.status_code == 400  # Flask's answer to a host it does not trust
    assert stored(runtime) == 2

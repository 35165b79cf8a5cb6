"""Write-back to Zabbix and reconciliation with it, against a local JSON-RPC stand-in that is
strict about both authentication styles (6.0: `auth` field; 6.4 and 7.x: Bearer header)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.db.models import OutboxJob
from bridge.errors import ConfigError
from bridge.services.outbox import MAX_ATTEMPTS
from bridge.settings import Settings
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.api import Api
from tests.support.app import build_runtime
from tests.support.db import empty_database
from tests.support.payloads import body, captured
from tests.support.zabbix_standin import PASSWORD, TOKEN, USER, StandIn, zabbix_standin

INSTANCE = "zbx-acceptance"  # what the captured deliveries say


@pytest.fixture(params=["6.0.14", "7.0.5"])
def standin(request: pytest.FixtureRequest) -> Iterator[StandIn]:
    with zabbix_standin(request.param) as running:
        yield running


def zabbix_api(
    settings: Settings, standin: StandIn, clock: FakeClock, **overrides: Any
) -> tuple[Api, Runtime]:
    chosen: dict[str, Any] = {
        "zabbix_url": standin.url.rstrip("/"),
        "zabbix_api_token": TOKEN,
        "zabbix_instance": INSTANCE,
        "zabbix_reconcile": timedelta(0),
    }
    runtime = build_runtime(settings.with_overrides(**(chosen | overrides)), clock)
    return Api(create_app(runtime=runtime).test_client(), runtime), runtime


@pytest.fixture
def zapi(settings: Settings, standin: StandIn, clock: FakeClock) -> Iterator[Api]:
    api, runtime = zabbix_api(settings, standin, clock)
    yield api
    runtime.close()


def problem_open(api: Api, clock: FakeClock) -> None:
    clock.set(captured("zabbix/01-problem.json").received_at)
    assert api.zabbix(captured("zabbix/01-problem.json").body_raw).status_code == 202
    api.drain()


def jobs(api: Api) -> list[OutboxJob]:

    with api.runtime.services.sessions() as session:
        return list(session.scalars(select(OutboxJob).order_by(OutboxJob.id)))


def test_acknowledging_in_bridge_acknowledges_the_problem_in_zabbix(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    problem_open(zapi, clock)
    assert zapi.act(1, "ack", "on it").status_code == 200
    assert [(j.kind, j.status) for j in jobs(zapi)] == [("zabbix.acknowledge", "pending")]
    zapi.drain()
    (call,) = standin.called("event.acknowledge")
    assert call.params == {
        "eventids": ["24"],
        "action": 2 | 4,
        "message": "Acknowledged in bridge incident 1 by admin: on it",
    }
    if standin.bearer_style:
        assert (call.bearer, call.auth_field) == (TOKEN, None)
    else:
        assert (call.bearer, call.auth_field) == (None, TOKEN)
    assert [(j.kind, j.status) for j in jobs(zapi)] == [("zabbix.acknowledge", "done")]
    assert zapi.incident(1)["timeline"][-1]["text"] == "acknowledged in Zabbix: problem 24"


def test_user_and_password_log_in_with_the_right_field_name(
    settings: Settings, standin: StandIn, clock: FakeClock
) -> None:
    api, runtime = zabbix_api(
        settings, standin, clock, zabbix_api_token=None, zabbix_user=USER, zabbix_password=PASSWORD
    )
    try:
        problem_open(api, clock)
        api.act(1, "ack")
        api.drain()
        (login,) = standin.called("user.login")
        assert login.params == {"username": USER, "password": PASSWORD}  # 5.4+: "username", not "user"
        assert len(standin.called("event.acknowledge")) == 1
    finally:
        runtime.close()


def test_the_echo_of_bridges_own_acknowledgement_does_not_loop(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    problem_open(zapi, clock)
    zapi.act(1, "ack", "on it")
    zapi.drain()
    echo = body("zabbix/02-update-ack-message.json")
    echo["update"].update(message="Acknowledged in bridge incident 1 by admin: on it", user="bridge (bridge)")
    before = zapi.incident(1)["timeline"]
    assert zapi.zabbix(echo).status_code == 202
    zapi.drain()
    assert zapi.incident(1)["timeline"] == before  # no note, no second acknowledgement
    assert len(jobs(zapi)) == 1  # nothing written back again
    assert len(standin.called("event.acknowledge")) == 1


def test_an_acknowledgement_in_zabbix_acknowledges_the_incident_without_writing_back(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    problem_open(zapi, clock)
    zapi.zabbix(captured("zabbix/02-update-ack-message.json").body_raw)
    zapi.drain()
    incident = zapi.incident(1)
    assert incident["status"] == "acknowledged"
    assert incident["timeline"][-1] == {
        "at": incident["timeline"][-1]["at"],
        "actor": "zabbix:Acceptance Operator (acc-operator)",
        "kind": "acknowledged",
        "text": "acknowledged in Zabbix",
        "fingerprint": None,
        "via": None,
    }
    assert jobs(zapi) == []  # it came from Zabbix: nothing to tell Zabbix
    assert standin.called("event.acknowledge") == []


def test_acknowledging_in_zabbix_can_be_left_out(
    settings: Settings, standin: StandIn, clock: FakeClock
) -> None:
    api, runtime = zabbix_api(settings, standin, clock, zabbix_ack_acknowledges=False)
    try:
        problem_open(api, clock)
        api.zabbix(captured("zabbix/02-update-ack-message.json").body_raw)
        api.drain()
        incident = api.incident(1)
        assert incident["status"] == "open"
        assert "in Zabbix: acknowledged and commented" in incident["timeline"][-1]["text"]
    finally:
        runtime.close()


def test_closing_in_bridge_closes_what_zabbix_allows_and_adds_a_message_elsewhere(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    problem_open(zapi, clock)
    second = body("zabbix/01-problem.json")
    second["event"]["id"] = "30"  # another problem of the same trigger and host: the same incident
    zapi.zabbix(second)
    zapi.drain()
    standin.manual_close = {"24": True, "30": False}
    for action in ("resolve", "close"):
        assert zapi.act(1, action, "fixed the cron job").status_code == 200
    zapi.drain()
    acks = standin.called("event.acknowledge")
    assert [(c.params["eventids"], c.params["action"]) for c in acks] == [(["24"], 1 | 4), (["30"], 4)]
    assert acks[0].params["message"] == "Closed in bridge incident 1 by admin: fixed the cron job"
    assert "does not allow closing by hand" in acks[1].params["message"]


def test_comments_are_copied_only_when_asked(settings: Settings, standin: StandIn, clock: FakeClock) -> None:
    for mirror, expected in ((False, 0), (True, 1)):
        api, runtime = zabbix_api(settings, standin, clock, zabbix_mirror_comments=mirror)
        try:
            empty_database(settings.database_url)
            standin.calls.clear()
            problem_open(api, clock)
            number = api.incidents()[0]["number"]  # numbers never repeat, even after the rows are gone
            assert api.act(number, "comment", "the disk is new").status_code == 200
            api.drain()
            calls = standin.called("event.acknowledge")
            assert len(calls) == expected
            if calls:
                assert calls[0].params == {
                    "eventids": ["24"],
                    "action": 4,
                    "message": f"Comment in bridge incident {number} by admin: the disk is new",
                }
        finally:
            runtime.close()


def test_a_zabbix_outage_is_retried_with_backoff_then_parked_never_blocking(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    problem_open(zapi, clock)
    standin.failing = True
    zapi.act(1, "ack")
    zapi.drain()
    (job,) = jobs(zapi)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.next_attempt_at == clock.now() + timedelta(seconds=30)
    assert (
        zapi.zabbix(captured("zabbix/06-problem-second.json").body_raw).status_code == 202
    )  # ingest goes on
    for _ in range(MAX_ATTEMPTS):
        clock.advance(timedelta(minutes=31))
        zapi.drain()
    (job,) = jobs(zapi)
    assert (job.status, job.attempts) == ("failed", MAX_ATTEMPTS)
    assert "HTTPError" in (job.last_error or "")
    assert zapi.incident(1)["timeline"][-1]["kind"] == "writeback_failed"


def test_reconciliation_opens_what_bridge_missed_and_resolves_what_is_gone(
    settings: Settings, standin: StandIn, clock: FakeClock
) -> None:
    api, runtime = zabbix_api(settings, standin, clock, zabbix_reconcile=timedelta(minutes=5))
    try:
        clock.set(captured("zabbix/01-problem.json").received_at)
        api.zabbix(captured("zabbix/01-problem.json").body_raw)  # problem 24, which Zabbix will lose track of
        started = int(clock.now().timestamp()) - 180  # older than the grace: the webhook was lost
        standin.problems = [
            {
                "eventid": "77",
                "objectid": "23144",
                "clock": str(started),
                "name": "Database down on db-07",
                "severity": "5",
                "acknowledged": "1",
                "r_eventid": "0",
                "r_clock": "0",
                "tags": [{"tag": "service", "value": "billing"}],
            }
        ]
        standin.event_hosts = {"77": ["10501"]}
        standin.hosts = {"10501": {"host": "db-07", "name": "DB 07", "groups": ["Databases"]}}
        api.drain()  # the first reconciliation runs at once
        incidents = {i["title"]: i for i in api.incidents()}
        assert set(incidents) == {"High CPU load on Acceptance bridge host", "Database down on db-07"}
        missed = api.incident(incidents["Database down on db-07"]["number"])
        assert missed["priority"] == "P1"
        assert [a["labels"]["host_groups"] for a in missed["alerts"]] == ["Databases"]
        attached = next(e for e in missed["timeline"] if e["kind"] == "alert_attached")
        assert "found by reconciliation with Zabbix" in attached["text"]
        gone = api.incident(incidents["High CPU load on Acceptance bridge host"]["number"])
        assert gone["alerts"][0]["status"] == "resolved"
        assert "alert resolved" in gone["timeline"][-1]["text"]
        assert "found by reconciliation with Zabbix" in gone["timeline"][-1]["text"]
        assert len(standin.called("problem.get")) == 1
        api.drain()
        assert len(standin.called("problem.get")) == 1  # not again before the interval
        clock.advance(timedelta(minutes=5))
        api.drain()
        assert len(standin.called("problem.get")) == 2
    finally:
        runtime.close()


def test_a_failing_reconciliation_is_counted_and_never_crashes_the_worker(
    settings: Settings, standin: StandIn, clock: FakeClock
) -> None:
    api, runtime = zabbix_api(settings, standin, clock, zabbix_reconcile=timedelta(minutes=1))
    try:
        standin.failing = True
        api.drain()
        metrics = api.client.get("/metrics").get_data(as_text=True)
        assert 'bridge_periodic_runs_total{job="reconcile:zabbix",result="error"} 1.0' in metrics
        assert api.zabbix(captured("zabbix/01-problem.json").body_raw).status_code == 202
        standin.failing = False
        clock.advance(timedelta(minutes=1))
        api.drain()
        metrics = api.client.get("/metrics").get_data(as_text=True)
        assert 'bridge_periodic_runs_total{job="reconcile:zabbix",result="ok"} 1.0' in metrics
    finally:
        runtime.close()


def test_outbox_jobs_are_visible_in_the_api(zapi: Api, standin: StandIn, clock: FakeClock) -> None:
    problem_open(zapi, clock)
    zapi.act(1, "ack")
    (job,) = zapi.get("/api/outbox")["items"]
    assert (job["kind"], job["status"], job["incident"]) == ("zabbix.acknowledge", "pending", 1)
    assert json.dumps(job)  # plain JSON


def test_settings_refuse_a_zabbix_url_without_credentials(tmp_path: Path) -> None:

    with pytest.raises(ConfigError, match="BRIDGE_ZABBIX_URL needs BRIDGE_ZABBIX_API_TOKEN"):
        Settings.from_env({"BRIDGE_ZABBIX_URL": "http://zabbix"})


def test_acknowledging_from_the_cli_queues_the_same_write_back(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:

    problem_open(zapi, clock)
    env = {
        "BRIDGE_DATABASE_URL": zapi.runtime.settings.database_url,
        "BRIDGE_ZABBIX_URL": standin.url,
        "BRIDGE_ZABBIX_API_TOKEN": TOKEN,
        "BRIDGE_ZABBIX_INSTANCE": INSTANCE,
        "USER": "ivanov",
        "BRIDGE_RULES_DIR": str(zapi.runtime.settings.rules_dir),
    }
    result = CliRunner().invoke(main, ["incidents", "ack", "1", "-m", "from the console"], env=env)
    assert result.output == "incident 1 is acknowledged\n"
    (job,) = jobs(zapi)
    assert job.payload == {
        "event_ids": ["24"],
        "message": "Acknowledged in bridge incident 1 by cli:ivanov: from the console",
    }
    clock.set(datetime.now(UTC) + timedelta(seconds=1))  # the CLI stamped the job with the real clock
    zapi.drain()  # the running bridge carries it out
    assert (
        standin.called("event.acknowledge")[0].params["message"].endswith("by cli:ivanov: from the console")
    )

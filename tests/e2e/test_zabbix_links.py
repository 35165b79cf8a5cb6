"""The Zabbix round trip's corrections, against the local JSON-RPC stand-in: every problem is
answered with its event's page in bridge, a problem that joins an incident later hears of it
through the API, reconciliation leaves young problems and acknowledgements to the webhooks and
never takes bridge's own acknowledgement for a person's, a media type Test leaves nothing firing,
and an instance bridge does not expect is warned of and shown in /readyz."""

from __future__ import annotations

import base64
import copy
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bridge.clock import FakeClock
from bridge.db.models import AlertRow, Intake, OutboxJob, TimelineEntry
from bridge.integrations.zabbix import ZabbixClient
from bridge.services.pipeline import SLICE_SECONDS, take_deciding_turn
from bridge.services.reconcile import Reconciled, ZabbixReconciler
from bridge.settings import Settings
from bridge.web.app import create_app
from tests.conftest import _truncate
from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN, build_runtime, make_settings, write_rules
from tests.support.payloads import captured
from tests.support.zabbix_standin import TOKEN, StandIn, zabbix_standin

INSTANCE = "zbx-acceptance"  # what the captured deliveries say
BASE = "https://bridge.example"
HELD = """
defaults:
  resolve_after: 0s
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: cpu-load
    match: {name: "=~High CPU.*|Database down.*"}
    for: 5m
"""
ANSWER_BOUND = 5.0
"""Seconds a webhook may take to be answered in these tests: generous for a loaded machine, and
far below the minutes a held deciding turn is held here (the test's whole block)."""
PAGE_AUTH = {"Authorization": "Basic " + base64.b64encode(f"any:{ADMIN_TOKEN}".encode()).decode()}


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with zabbix_standin("6.0.14") as running:
        yield running


def zabbix_api(settings: Settings, standin: StandIn, clock: FakeClock, **overrides: Any) -> Api:
    chosen: dict[str, Any] = {
        "zabbix_url": standin.url.rstrip("/"),
        "zabbix_api_token": TOKEN,
        "zabbix_instance": INSTANCE,
        "zabbix_reconcile": timedelta(0),
        "base_url": BASE,
    }
    runtime = build_runtime(settings.with_overrides(**(chosen | overrides)), clock)
    return Api(create_app(runtime=runtime).test_client(), runtime)


@pytest.fixture
def zapi(settings: Settings, standin: StandIn, clock: FakeClock) -> Iterator[Api]:
    api = zabbix_api(settings, standin, clock)
    yield api
    api.runtime.close()


@pytest.fixture
def held(settings: Settings, standin: StandIn, clock: FakeClock, tmp_path: Path) -> Iterator[Api]:
    api = zabbix_api(settings, standin, clock, rules_dir=write_rules(tmp_path / "held", HELD))
    yield api
    api.runtime.close()


def reconcile(api: Api) -> Reconciled:
    """One reconciliation pass, as the periodic job runs it, then what it stored is decided."""
    services = api.runtime.services
    reconciler = ZabbixReconciler(
        services.settings,
        services.sessions,
        services.clock,
        ZabbixClient(services.settings),
        services.intake,
        services.zabbix_instances,
    )
    done = reconciler.run()
    api.drain()
    return done


def problem(clock: FakeClock, age: timedelta, **fields: Any) -> dict[str, Any]:
    """Problem 77 as problem.get returns it, `age` old."""
    return {
        "eventid": "77",
        "objectid": "23144",
        "clock": str(int((clock.now() - age).timestamp())),
        "name": "Database down on db-07",
        "severity": "5",
        "acknowledged": "0",
        "r_eventid": "0",
        "r_clock": "0",
        "tags": [],
        "acknowledges": [],
        **fields,
    }


def with_host(standin: StandIn) -> None:
    standin.event_hosts = {"77": ["10501"], "24": ["10501"]}
    standin.hosts = {"10501": {"host": "db-07", "name": "DB 07", "groups": ["Databases"]}}


def open_problem_24(api: Api, clock: FakeClock) -> Any:
    clock.set(captured("zabbix/01-problem.json").received_at)
    response = api.zabbix(captured("zabbix/01-problem.json").body_raw)
    assert response.status_code == 202
    api.drain()
    return response.get_json()


def jobs(api: Api, kind: str) -> list[OutboxJob]:
    with api.runtime.services.sessions() as session:
        return list(session.scalars(select(OutboxJob).where(OutboxJob.kind == kind).order_by(OutboxJob.id)))


# -- the link on every problem ----------------------------------------------------------------


def test_a_held_problem_is_answered_with_its_page_which_waits_then_leads_to_the_incident(
    held: Api, standin: StandIn, clock: FakeClock
) -> None:
    answer = open_problem_24(held, clock)
    link = f"{BASE}/zabbix/events/{INSTANCE}/24"
    assert answer == {"accepted": 1, "tags": {"__zbx_bridge_url": link}}  # no incident yet, a true link
    page = held.client.get(f"/zabbix/events/{INSTANCE}/24", headers=PAGE_AUTH)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "waiting" in text and "for 5m" in text and "opens at" in text
    anonymous = held.client.get(f"/zabbix/events/{INSTANCE}/24")  # a browser not signed in: the login form
    assert anonymous.status_code == 303 and anonymous.headers["Location"].startswith("/login")

    clock.advance(timedelta(minutes=5, seconds=1))
    held.drain()
    (incident,) = held.incidents()
    assert (incident["source"], incident["host"]) == ("zabbix", "acc-bridge-host")  # from its alert
    moved = held.client.get(f"/zabbix/events/{INSTANCE}/24", headers=PAGE_AUTH)
    assert (moved.status_code, moved.headers["Location"]) == (302, f"/incidents/{incident['number']}")
    (job,) = jobs(held, "zabbix.joined")
    said = f"bridge incident {incident['number']} opened: {BASE}/incidents/{incident['number']}"
    assert job.payload == {"event_ids": ["24"], "message": said}
    held.drain()
    (call,) = standin.called("event.acknowledge")
    assert call.params == {"eventids": ["24"], "action": 4, "message": said}  # the message action only


def test_a_problem_opened_at_once_gets_its_incident_in_the_answer_and_no_message(
    zapi: Api, clock: FakeClock
) -> None:
    answer = open_problem_24(zapi, clock)
    link = f"{BASE}/zabbix/events/{INSTANCE}/24"
    assert answer["tags"] == {"__zbx_bridge_url": link, "__zbx_bridge_incident": "INC-1"}
    assert jobs(zapi, "zabbix.joined") == []


# -- answered at once: decided in the request only when that needs no waiting ---------------


def problem_24_stored_at_once(api: Api, clock: FakeClock) -> Any:
    """Zabbix's webhook for problem 24, posted from another thread: its answer, which must come
    within ANSWER_BOUND seconds whatever holds the deciding turn (Zabbix's few alerters send one
    webhook at a time, with a timeout)."""
    clock.set(captured("zabbix/01-problem.json").received_at)
    answers: list[Any] = []
    poster = threading.Thread(
        target=lambda: answers.append(api.zabbix(captured("zabbix/01-problem.json").body_raw))
    )
    poster.start()
    poster.join(ANSWER_BOUND)
    assert not poster.is_alive(), f"the webhook waited more than {ANSWER_BOUND}s to be answered"
    (response,) = answers
    assert response.status_code == 202
    return response.get_json()


def second_problem(event_id: int) -> bytes:
    """Another problem of another trigger, event `event_id`."""
    payload = json.loads(captured("zabbix/06-problem-second.json").body_raw)
    payload["event"]["id"] = str(event_id)
    payload["event"]["name"] = payload["trigger"]["description"] = f"Another trigger {event_id}"
    return json.dumps(payload).encode()


def decided_once(api: Api) -> None:
    """Every delivery decided, problem 24 joined to one incident once, and nothing left to decide."""
    with api.runtime.services.sessions() as session:
        assert session.scalars(select(Intake.status)).all() == ["done"]
        attached = session.scalars(
            select(TimelineEntry.fingerprint).where(TimelineEntry.kind == "alert_attached")
        ).all()
    assert attached == [f"zabbix:{INSTANCE}:24"]
    assert api.drain() == 0


@pytest.mark.postgres
def test_a_problem_posted_while_a_worker_holds_the_deciding_turn_is_answered_at_once_and_hears_later(
    postgres_database: str, rules_dir: Path, standin: StandIn, clock: FakeClock
) -> None:
    """A worker deciding a slice of a backlog holds the turn for up to a second: the webhook does
    not wait for it. Its answer carries the event's page; the worker decides it after, once, and
    the problem hears of its incident through the API (the answer's tags could not name it)."""
    _truncate(postgres_database)
    api = zabbix_api(make_settings(postgres_database, rules_dir), standin, clock)
    try:
        with api.runtime.services.sessions() as worker, worker.begin():
            take_deciding_turn(worker)  # held till this block ends, as a worker's slice holds it
            answer = problem_24_stored_at_once(api, clock)
            with api.runtime.services.sessions() as session:
                assert session.scalars(select(Intake.status)).all() == ["pending"]
        assert answer == {"accepted": 1, "tags": {"__zbx_bridge_url": f"{BASE}/zabbix/events/{INSTANCE}/24"}}

        api.drain()  # the worker, its turn come
        (incident,) = api.incidents()
        said = f"bridge incident {incident['number']} opened: {BASE}/incidents/{incident['number']}"
        api.drain()
        (call,) = standin.called("event.acknowledge")
        assert call.params == {"eventids": ["24"], "action": 4, "message": said}
        decided_once(api)

        # Having found it would wait, bridge asks again only a worker's slice later: till then a
        # problem goes to the worker without a transaction to find that out.
        clock.advance(timedelta(seconds=SLICE_SECONDS["postgresql"] / 2))
        soon = api.zabbix(second_problem(26)).get_json()
        assert "__zbx_bridge_incident" not in soon["tags"]
        assert api.drain() == 1  # the worker decides it
        clock.advance(timedelta(seconds=SLICE_SECONDS["postgresql"] / 2))
        later = api.zabbix(second_problem(27)).get_json()
        assert later["tags"]["__zbx_bridge_incident"].startswith("INC-")  # decided in its request
    finally:
        api.runtime.close()


def test_a_problem_behind_an_older_pending_delivery_is_answered_at_once_and_decided_after_it(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    """Deliveries are decided in arrival order: one still pending ahead of it (here an
    Alertmanager notification, never decided in the request) sends the problem to the worker."""
    clock.set(captured("zabbix/01-problem.json").received_at)
    assert zapi.alertmanager(captured("alertmanager/01-firing-single.json").body_raw).status_code == 202
    answer = problem_24_stored_at_once(zapi, clock)
    assert answer == {"accepted": 1, "tags": {"__zbx_bridge_url": f"{BASE}/zabbix/events/{INSTANCE}/24"}}
    with zapi.runtime.services.sessions() as session:
        assert session.scalars(select(Intake.status).order_by(Intake.id)).all() == ["pending", "pending"]

    zapi.drain()
    with zapi.runtime.services.sessions() as session:
        assert session.scalars(select(Intake.status)).all() == ["done", "done"]
    assert [job.payload["event_ids"] for job in jobs(zapi, "zabbix.joined")] == [["24"]]

    # Nothing pending any more, and a worker's slice later (it asks again no sooner): the next
    # problem is decided in its request, and its answer names its incident.
    clock.advance(timedelta(seconds=SLICE_SECONDS["postgresql"]))
    second = zapi.zabbix(captured("zabbix/06-problem-second.json").body_raw).get_json()
    assert second["tags"]["__zbx_bridge_incident"].startswith("INC-")
    assert [job.payload["event_ids"] for job in jobs(zapi, "zabbix.joined")] == [["24"]]  # no message for it


def test_an_update_left_to_the_worker_still_names_the_incident_of_its_problem(
    zapi: Api, clock: FakeClock
) -> None:
    """Only a problem's first delivery skips looking its incident up when left to the worker."""
    opened = open_problem_24(zapi, clock)  # decided in its request: its answer names the incident
    assert zapi.alertmanager(captured("alertmanager/01-firing-single.json").body_raw).status_code == 202
    update = zapi.zabbix(captured("zabbix/02-update-ack-message.json").body_raw).get_json()
    with zapi.runtime.services.sessions() as session:
        assert session.scalars(select(Intake.status).order_by(Intake.id)).all() == [
            "done",
            "pending",
            "pending",
        ]
    assert update["tags"]["__zbx_bridge_incident"] == opened["tags"]["__zbx_bridge_incident"]


def test_a_recovery_is_answered_with_no_tags_for_its_ok_event(zapi: Api, clock: FakeClock) -> None:
    open_problem_24(zapi, clock)
    recovery = zapi.zabbix(captured("zabbix/05-recovery.json").body_raw)
    assert recovery.get_json()["tags"] == {}


def test_an_event_bridge_never_received_has_a_page_that_says_so(zapi: Api) -> None:
    page = zapi.client.get(f"/zabbix/events/{INSTANCE}/999", headers=PAGE_AUTH)
    assert page.status_code == 404
    assert "not received" in page.get_data(as_text=True)


def test_bridges_incident_opened_message_does_not_come_back_as_a_person_s_update(
    held: Api, clock: FakeClock
) -> None:
    body = json.loads(captured("zabbix/02-update-ack-message.json").body_raw)
    body["update"]["message"] = f"bridge incident 3 opened: {BASE}/incidents/3"
    open_problem_24(held, clock)
    held.zabbix(json.dumps(body).encode())
    held.drain()
    with held.runtime.services.sessions() as session:
        row = session.scalar(select(AlertRow).where(AlertRow.source_ref == "24"))
    assert row is not None and row.disposition == "waiting"


# -- reconciliation ---------------------------------------------------------------------------


def test_reconciliation_leaves_a_problem_younger_than_the_grace_to_its_webhook(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    with_host(standin)
    standin.problems = [problem(clock, timedelta(seconds=30))]
    assert reconcile(zapi).found == 0  # its webhook may still be on its way (or being retried)
    assert zapi.incidents() == []
    clock.advance(timedelta(minutes=2))
    assert reconcile(zapi).found == 1  # older than the grace: the webhook was lost
    (incident,) = zapi.incidents()
    assert (incident["title"], incident["source"], incident["host"]) == (
        "Database down on db-07",
        "zabbix",
        "db-07",
    )


def test_reconciliation_leaves_a_young_acknowledgement_to_the_webhook(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    open_problem_24(zapi, clock)
    with_host(standin)
    acked = {"clock": str(int(clock.now().timestamp()) + 5), "action": "6", "message": "on it"}
    standin.problems = [
        problem(clock, timedelta(minutes=10), eventid="24", acknowledged="1", acknowledges=[acked])
    ]
    clock.advance(timedelta(seconds=20))
    assert reconcile(zapi).acknowledged == 0
    assert zapi.incident(1)["status"] == "open"
    clock.advance(timedelta(minutes=2))
    assert reconcile(zapi).acknowledged == 1
    detail = zapi.incident(1)
    assert detail["status"] == "acknowledged"
    assert detail["timeline"][-1]["actor"] == "zabbix:Zabbix (found by reconciliation)"


def test_reconciliation_ignores_acknowledgements_bridge_made_itself(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    open_problem_24(zapi, clock)
    with_host(standin)
    own = {
        "clock": str(int(clock.now().timestamp())),
        "action": "6",
        "message": "Acknowledged in bridge incident 1 by admin",
    }
    standin.problems = [
        problem(clock, timedelta(minutes=10), eventid="24", acknowledged="1", acknowledges=[own])
    ]
    clock.advance(timedelta(minutes=10))
    assert reconcile(zapi).acknowledged == 0
    assert zapi.incident(1)["status"] == "open"


def test_reconciliation_does_not_acknowledge_again_what_a_person_rejected_after_the_acknowledgement(
    zapi: Api, standin: StandIn, clock: FakeClock
) -> None:
    open_problem_24(zapi, clock)
    with_host(standin)
    person = {"clock": str(int(clock.now().timestamp())), "action": "6", "message": "mine"}
    standin.problems = [
        problem(clock, timedelta(minutes=10), eventid="24", acknowledged="1", acknowledges=[person])
    ]
    clock.advance(timedelta(minutes=1))
    for action in ("ack", "resolve", "reject"):
        assert zapi.act(1, action).status_code == 200
    clock.advance(timedelta(minutes=10))
    assert reconcile(zapi).acknowledged == 0
    assert zapi.incident(1)["status"] == "open"
    # a person acknowledging it in Zabbix again, after the reject, does count
    again = {"clock": str(int(clock.now().timestamp())), "action": "6", "message": "again"}
    standin.problems[0]["acknowledges"] = [person, again]
    clock.advance(timedelta(minutes=3))
    assert reconcile(zapi).acknowledged == 1


def test_a_reconciled_problem_held_by_for_keeps_its_note_source_and_host(
    held: Api, standin: StandIn, clock: FakeClock
) -> None:
    clock.set(captured("zabbix/01-problem.json").received_at)
    with_host(standin)
    standin.problems = [problem(clock, timedelta(minutes=3))]
    assert reconcile(held).found == 1
    assert held.incidents() == []  # held: 3 of 5 minutes
    clock.advance(timedelta(minutes=2, seconds=1))
    held.drain()
    (incident,) = held.incidents()
    detail = held.incident(incident["number"])
    assert (detail["source"], detail["host"]) == ("zabbix", "db-07")
    attached = next(e for e in detail["timeline"] if e["kind"] == "alert_attached")
    assert attached["text"].endswith("(found by reconciliation with Zabbix)")
    (job,) = jobs(held, "zabbix.joined")
    assert job.payload["event_ids"] == ["77"]


# -- the media type's Test --------------------------------------------------------------------


def media_test_body(name: str = "test") -> dict[str, Any]:
    body = copy.deepcopy(json.loads(captured("zabbix/01-problem.json").body_raw))
    body["test"] = True
    body["zabbix"] = {"instance": "zabbix"}
    body["event"] = {"id": "1", "value": "1", "nseverity": "4", "name": name}
    body["trigger"], body["host"] = {}, {}
    return body


def test_a_media_type_test_opens_an_incident_and_leaves_nothing_firing(zapi: Api, clock: FakeClock) -> None:
    answer = zapi.zabbix(media_test_body()).get_json()
    assert answer["tags"]["__zbx_bridge_incident"] == "INC-1"
    zapi.drain()
    assert [a["status"] for a in zapi.get("/api/alerts")["items"]] == ["resolved"]
    clock.advance(timedelta(minutes=5, seconds=1))  # the example rules' resolve_after
    zapi.drain()
    assert zapi.incident(1)["status"] == "resolved"
    assert zapi.act(1, "close").status_code == 200
    clock.advance(timedelta(seconds=1))
    again = zapi.zabbix(media_test_body()).get_json()  # a second Test is a new delivery, not a duplicate
    assert "duplicate" not in again
    zapi.drain()
    assert [a["status"] for a in zapi.get("/api/alerts")["items"]] == ["resolved"]


# -- the instance ---------------------------------------------------------------------------


def test_a_delivery_from_an_unknown_instance_is_warned_of_once_and_shown_in_readyz(
    settings: Settings, standin: StandIn, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    api = zabbix_api(settings, standin, clock, zabbix_instance="zabbix")  # {$BRIDGE.INSTANCE} unset in bridge
    try:
        assert "zabbix_instance" not in api.client.get("/readyz").get_json()["checks"]
        with caplog.at_level(logging.WARNING, logger="bridge"):
            open_problem_24(api, clock)
            api.zabbix(captured("zabbix/06-problem-second.json").body_raw)
        warned = [r.getMessage() for r in caplog.records if "is not BRIDGE_ZABBIX_INSTANCE" in r.getMessage()]
        assert len(warned) == 1 and "'zbx-acceptance' (a delivery)" in warned[0]
        ready = api.client.get("/readyz").get_json()
        assert ready["status"] == "degraded"
        assert ready["checks"]["zabbix_instance"].startswith("degraded: Zabbix instance 'zbx-acceptance'")
    finally:
        api.runtime.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bridge"):  # the next start-up says so at once
        restarted = zabbix_api(settings, standin, clock, zabbix_instance="zabbix")
    try:
        assert any("the Zabbix alerts stored last" in r.getMessage() for r in caplog.records)
    finally:
        restarted.runtime.close()


def test_a_test_delivery_is_no_sign_of_an_instance_mismatch(
    settings: Settings, standin: StandIn, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    api = zabbix_api(settings, standin, clock, zabbix_instance="zbx-prod-1")
    try:
        with caplog.at_level(logging.WARNING, logger="bridge"):
            api.zabbix(media_test_body())
        assert not any("BRIDGE_ZABBIX_INSTANCE" in r.getMessage() for r in caplog.records)
        assert "zabbix_instance" not in api.client.get("/readyz").get_json()["checks"]
    finally:
        api.runtime.close()


def test_reconciliation_warns_of_the_instance_zabbix_s_macro_names(
    zapi: Api, standin: StandIn, caplog: pytest.LogCaptureFixture
) -> None:
    standin.macros = {"{$BRIDGE.INSTANCE}": "zbx-prod-1"}
    with caplog.at_level(logging.WARNING, logger="bridge"):
        reconcile(zapi)
        reconcile(zapi)
    warned = [r.getMessage() for r in caplog.records if "is not BRIDGE_ZABBIX_INSTANCE" in r.getMessage()]
    assert len(warned) == 1 and "{$BRIDGE.INSTANCE} macro" in warned[0]

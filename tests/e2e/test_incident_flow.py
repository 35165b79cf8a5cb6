"""From webhook to incident and back, through the HTTP app, with a fake clock."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from itertools import permutations

import pytest

from bridge.clock import FakeClock
from bridge.db.models import Intake
from tests.support.api import Api
from tests.support.payloads import am_alert, am_notification, body, captured


def post(api: Api, *paths: str) -> None:
    for path in paths:
        send = api.alertmanager if path.startswith("alertmanager") else api.zabbix
        assert send(captured(path).body_raw).status_code == 202
    api.drain()


def test_firing_opens_an_incident_with_its_priority_and_number(api: Api) -> None:
    post(api, "alertmanager/01-firing-single.json")
    (incident,) = api.incidents()
    assert incident["number"] == 1
    assert incident["priority"] == "P1"  # severity critical -> P1 in the test rules
    assert incident["status"] == "open"
    assert incident["title"] == "AccHighCPU on web-01"
    assert (incident["alert_count"], incident["occurrence_count"]) == (1, 1)
    detail = api.incident(1)
    assert [a["fingerprint"] for a in detail["alerts"]] == ["alertmanager:dc4962fcf0356e7f"]
    assert [e["kind"] for e in detail["timeline"]] == ["opened", "assigned", "alert_attached"]
    assert detail["timeline"][0]["text"] == "opened P1 by rule default"
    assert detail["actions"] == ["ack", "resolve", "escalate", "assign", "priority", "comment", "cancel"]


def test_repeat_deliveries_keep_one_incident_and_count_occurrences_right(api: Api) -> None:
    post(api, "alertmanager/01-firing-single.json", "alertmanager/02-repeat-single.json")
    (incident,) = api.incidents()
    assert (incident["alert_count"], incident["occurrence_count"]) == (1, 1)
    post(api, "alertmanager/07-firing-single-bearer-auth.json")  # fired again: new startsAt
    (incident,) = api.incidents()
    assert (incident["alert_count"], incident["occurrence_count"]) == (1, 2)
    assert [e["kind"] for e in api.incident(1)["timeline"]][-1] == "alert_fired"


def test_resolved_alerts_resolve_the_incident_after_resolve_after(api: Api, clock: FakeClock) -> None:
    clock.set(captured("alertmanager/01-firing-single.json").received_at)
    post(api, "alertmanager/01-firing-single.json")
    clock.set(captured("alertmanager/05-resolved-single.json").received_at)
    post(api, "alertmanager/05-resolved-single.json")
    assert api.incident(1)["status"] == "open"
    clock.advance(timedelta(minutes=4, seconds=55))
    api.drain()
    assert api.incident(1)["status"] == "open"
    clock.advance(timedelta(seconds=10))
    api.drain()
    incident = api.incident(1)
    assert incident["status"] == "resolved"
    assert incident["resolved_at"] == "2026-11-22T06:56:25.105000Z"  # endsAt + 5m
    assert incident["timeline"][-1]["text"] == "resolved: all alerts resolved and quiet for 5m"


def test_firing_again_within_reopen_within_reopens_the_same_incident(api: Api, clock: FakeClock) -> None:
    post(api, "alertmanager/01-firing-single.json", "alertmanager/05-resolved-single.json")
    clock.advance(timedelta(minutes=10))
    api.drain()
    assert api.incident(1)["status"] == "resolved"
    refire = body("alertmanager/01-firing-single.json")
    refire["alerts"][0]["startsAt"] = "2026-11-22T07:20:00Z"
    clock.set(clock.now() + timedelta(minutes=20))
    assert api.alertmanager(refire).status_code == 202
    api.drain()
    (incident,) = api.incidents()
    assert (incident["number"], incident["status"], incident["reopen_count"]) == (1, "open", 1)
    assert any(e["kind"] == "reopened" for e in api.incident(1)["timeline"])


def test_firing_after_reopen_within_opens_a_new_incident(api: Api, clock: FakeClock) -> None:
    post(api, "alertmanager/01-firing-single.json", "alertmanager/05-resolved-single.json")
    clock.advance(timedelta(minutes=10))
    api.drain()
    refire = body("alertmanager/01-firing-single.json")
    refire["alerts"][0]["startsAt"] = "2026-11-22T09:00:00Z"
    clock.set(refire_time := clock.now() + timedelta(hours=2))
    assert refire_time.hour == 9
    api.alertmanager(refire)
    api.drain()
    assert [(i["number"], i["status"]) for i in api.incidents()] == [(2, "open"), (1, "resolved")]


def test_for_opens_only_after_the_hold_with_no_further_delivery(api: Api, clock: FakeClock) -> None:
    started = clock.now()
    disk = am_notification(am_alert("DiskFull", starts_at=started.isoformat(), instance="db-01:9100"))
    assert api.alertmanager(disk).status_code == 202
    api.drain()
    assert api.incidents() == []
    (waiting,) = api.get("/api/alerts")["items"]
    assert waiting["decision"] == "waiting"
    assert waiting["reason"] == (
        "waiting: for 10m: firing since 2026-11-22 06:51:10 UTC, "
        "opens at 2026-11-22 07:01:10 UTC if still firing"
    )
    clock.advance(timedelta(minutes=9, seconds=59))
    api.drain()
    assert api.incidents() == []
    clock.advance(timedelta(seconds=1))
    api.drain()
    (incident,) = api.incidents()
    assert incident["opened_at"] == "2026-11-22T07:01:10Z"
    assert api.get("/api/alerts")["items"][0]["reason"] == "attached to incident 1 by rule disk"


def test_grouped_alerts_share_one_incident(api: Api, clock: FakeClock) -> None:
    post(api, "alertmanager/03-firing-grouped.json")
    clock.advance(timedelta(minutes=11))
    api.drain()
    (incident,) = api.incidents()
    assert incident["alert_count"] == 3
    assert incident["group_key"] == "disk|name=AccDiskFull"


def test_info_alert_is_dropped_with_its_reason(api: Api) -> None:
    post(api, "alertmanager/09-prometheus-up-firing.json")
    assert api.incidents() == []
    (alert,) = api.get("/api/alerts", decision="dropped")["items"]
    assert alert["reason"] == "dropped by rule drop-info"


def test_zabbix_problem_acknowledged_in_zabbix_raised_and_recovered(api: Api, clock: FakeClock) -> None:
    clock.set(captured("zabbix/01-problem.json").received_at)
    post(
        api,
        "zabbix/01-problem.json",
        "zabbix/02-update-ack-message.json",
        "zabbix/03-update-severity.json",
        "zabbix/04-update-unack.json",
    )
    incident = api.incident(1)
    assert incident["priority"] == "P1"  # High -> P2, then raised to Disaster -> P1
    texts = [e["text"] for e in incident["timeline"]]
    assert (
        "Acceptance Operator (acc-operator) in Zabbix: acknowledged and commented: Looking into it (acc-operator)"
        in texts
    )
    assert "priority P2 -> P1: High CPU load on Acceptance bridge host is critical" in texts
    post(api, "zabbix/05-recovery.json")
    clock.advance(timedelta(minutes=6))
    api.drain()
    assert api.incident(1)["status"] == "resolved"


@pytest.mark.parametrize(
    "order", list(permutations(["zabbix/07-update-close.json", "zabbix/08-recovery-after-close.json"]))
)
def test_manual_close_in_zabbix_arrives_in_either_order(
    api: Api, clock: FakeClock, order: tuple[str, str]
) -> None:
    clock.set(captured("zabbix/06-problem-second.json").received_at)
    post(api, "zabbix/06-problem-second.json", *order)
    clock.advance(timedelta(minutes=6))
    api.drain()
    incident = api.incident(1)
    assert incident["status"] == "resolved"
    assert [a["status"] for a in incident["alerts"]] == ["resolved"]
    assert [e["kind"] for e in incident["timeline"]].count("alert_resolved") == 1


def test_operator_actions_and_their_timeline(api: Api) -> None:
    post(api, "alertmanager/01-firing-single.json")
    assert api.act(1, "ack", "looking").get_json()["status"] == "acknowledged"
    assert api.act(1, "comment", "it is the cron job").status_code == 200
    assert api.act(1, "resolve").get_json()["status"] == "resolved"
    closed = api.act(1, "close", "confirmed by the client").get_json()
    assert closed["status"] == "closed"
    assert closed["closed_at"] is not None
    timeline = [(e["actor"], e["kind"], e["text"]) for e in api.incident(1)["timeline"]][3:]
    assert timeline == [
        ("admin", "acknowledged", "acknowledged by admin: looking"),
        ("admin", "comment", "it is the cron job"),
        ("admin", "resolved", "resolved by admin"),
        ("admin", "closed", "closed by admin: confirmed by the client"),
    ]
    reopened = api.act(1, "reopen").get_json()
    assert (reopened["status"], reopened["reopen_count"]) == ("open", 1)


def test_invalid_actions_are_refused_clearly(api: Api, client: object) -> None:
    post(api, "alertmanager/01-firing-single.json")
    response = api.act(1, "close")
    assert (response.status_code, response.get_json()) == (
        409,
        {"error": "incident 1 is open: cannot close it", "detail": {"code": "conflict"}},
    )
    response = api.act(1, "explode")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("action: unknown action 'explode'; one of ack, resolve")
    response = api.act(1, "comment", "  ")
    assert (response.status_code, response.get_json()["error"]) == (400, "comment: a comment needs text")
    assert api.act(99, "ack").status_code == 404
    assert (
        api.client.get("/api/incidents/99", headers={"Authorization": "Bearer admin-test-token"}).get_json()[
            "error"
        ]
        == "no incident 99"
    )


def test_the_api_needs_the_admin_token(api: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer am-test-token"}, {"Authorization": "Bearer nope"}):
        response = api.client.get("/api/incidents", headers=headers)
        assert (response.status_code, response.get_json()["error"]) == (401, "missing or wrong API token")


def test_incident_list_filters_and_pages(api: Api, clock: FakeClock) -> None:
    for n in range(5):
        severity = "critical" if n % 2 else "warning"
        api.alertmanager(
            am_notification(
                am_alert("Load", starts_at=clock.now().isoformat(), instance=f"h{n}:1", severity=severity)
            )
        )
    api.drain()
    api.act(1, "ack")
    assert len(api.incidents()) == 5
    assert [i["number"] for i in api.incidents(priority="p1")] == [4, 2]
    assert [i["number"] for i in api.incidents(status="acknowledged")] == [1]
    assert [i["number"] for i in api.incidents(status="open,acknowledged", limit=2, offset=1)] == [4, 3]
    assert api.get("/api/incidents", limit=2)["total"] == 5
    assert [i["number"] for i in api.incidents(q="on h3")] == [4]
    response = api.client.get("/api/incidents?limit=0", headers={"Authorization": "Bearer admin-test-token"})
    assert response.status_code == 400


def test_alerts_api_shows_each_decision_with_its_reason(api: Api) -> None:
    post(
        api,
        "alertmanager/01-firing-single.json",
        "alertmanager/09-prometheus-up-firing.json",
        "alertmanager/03-firing-grouped.json",
    )
    reasons = {
        a["name"] + "@" + a["host"]: (a["decision"], a["reason"]) for a in api.get("/api/alerts")["items"]
    }
    assert reasons["AccHighCPU@web-01"] == ("incident", "attached to incident 1 by rule default")
    assert reasons["AccPrometheusUp@127.0.0.1"] == ("dropped", "dropped by rule drop-info")
    assert reasons["AccDiskFull@db-01"][0] == "waiting"
    assert reasons["AccDiskFull@db-01"][1].startswith("waiting: for 10m")
    assert api.get("/api/alerts", incident=1)["total"] == 1


def test_failed_deliveries_are_visible_in_the_intake_api(api: Api) -> None:
    with api.runtime.services.sessions() as session, session.begin():
        session.add(
            Intake(
                source="zabbix",
                dedup_key="broken",
                received_at=api.runtime.services.clock.now(),
                body=json.dumps({"schema": "bridge.zabbix.v1"}).encode(),
                alert_count=1,
                status="pending",
                attempts=0,
            )
        )
    api.drain()
    (item,) = api.get("/api/intake", status="failed")["items"]
    assert item["error"] == "kind: must be one of problem, recovery, update; got None"


def test_the_incident_page_sends_to_the_login_then_shows_the_incident(api: Api) -> None:
    """Not signed in, a browser goes to the login page (issue 14; it used to get a Basic
    prompt); the admin token as Basic password still reads the page."""
    post(api, "alertmanager/01-firing-single.json")
    api.act(1, "ack", "looking <b>now</b>")
    refused = api.client.get("/incidents/1")
    assert (refused.status_code, refused.headers["Location"]) == (303, "/login?next=/incidents/1")
    credentials = base64.b64encode(b"operator:admin-test-token").decode()
    page = api.client.get("/incidents/1", headers={"Authorization": f"Basic {credentials}"})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "INC-1 · AccHighCPU on web-01" in html
    assert "acknowledged by admin: looking &lt;b&gt;now&lt;/b&gt;" in html  # escaped, not markup
    assert (
        api.client.get("/incidents/99", headers={"Authorization": f"Basic {credentials}"}).status_code == 404
    )

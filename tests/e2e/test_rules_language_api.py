"""The rules language through the HTTP app: run-time silences, inhibition, maintenance and
flapping as people see them in /api/alerts, /api/incidents and /api/rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.clock import FakeClock
from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN, write_rules
from tests.support.payloads import am_alert, am_notification

RULES = """
defaults:
  resolve_after: 5m
  reopen_within: 1h
rules:
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    priority: P1
    inhibits: {match: {name: "!=HostDown"}, equal: [host]}
  - name: ping
    match: {name: Ping}
    flapping: {changes: 4, within: 30m}
maintenance:
  - name: db-sunday
    match: {host: db-03}
    every: "sun 06:00-08:00"     # the tests' clock starts on Sunday 2026-11-22 06:51 UTC
    timezone: UTC
"""
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules", RULES)


def fire(api: Api, name: str, host: str, *, resolved: bool = False, started: Any = None) -> None:
    now = api.runtime.services.clock.now()
    start = started or now
    alert = am_alert(
        name,
        status="resolved" if resolved else "firing",
        starts_at=start.isoformat(),
        ends_at=now.isoformat() if resolved else None,
        fingerprint=f"{name}-{host}",
        instance=f"{host}:9100",
    )
    assert api.alertmanager(am_notification(alert)).status_code == 202
    api.drain()


def alert_named(api: Api, fingerprint: str) -> dict[str, Any]:
    (found,) = [
        a for a in api.get("/api/alerts")["items"] if a["fingerprint"] == f"alertmanager:{fingerprint}"
    ]
    return dict(found)


def silence(api: Api, **body: Any) -> Any:
    return api.client.post("/api/silences", json=body, headers=HEADERS)


def test_a_silence_holds_alerts_back_until_it_is_expired(api: Api, clock: FakeClock) -> None:
    created = silence(
        api, matchers={"host": "=~web-.*"}, ends_at="2h", author="ivanov", comment="kernel upgrade"
    )
    assert created.status_code == 201
    body = created.get_json()
    assert (body["state"], body["author"], body["matchers"]) == ("active", "ivanov", {"host": "=~web-.*"})
    fire(api, "HighCPU", "web-01")
    held = alert_named(api, "HighCPU-web-01")
    assert held["decision"] == "suppressed"
    assert held["reason"] == "silenced by ivanov until 2026-11-22 08:51:10 UTC: kernel upgrade"
    assert api.incidents() == []
    assert [s["id"] for s in api.get("/api/silences", state="active")["items"]] == [body["id"]]
    clock.advance(timedelta(minutes=10))
    expired = api.client.delete(f"/api/silences/{body['id']}", headers=HEADERS)
    assert expired.status_code == 200
    assert expired.get_json()["state"] == "expired"
    api.drain()
    (incident,) = api.incidents()
    assert incident["title"] == "HighCPU on web-01"
    assert incident["opened_at"] == clock.now().isoformat().replace("+00:00", "Z")
    assert api.client.delete(f"/api/silences/{body['id']}", headers=HEADERS).status_code == 409
    assert api.get("/api/silences", state="active")["items"] == []


def test_a_silence_ends_on_its_own_and_what_still_fires_opens(api: Api, clock: FakeClock) -> None:
    silence(api, matchers={"name": "HighCPU"}, ends_at="30m", comment="load test")
    fire(api, "HighCPU", "web-01")
    fire(api, "HighCPU", "web-02")
    fire(api, "HighCPU", "web-02", resolved=True)
    clock.advance(timedelta(minutes=29))
    api.drain()
    assert api.incidents() == []
    clock.advance(timedelta(minutes=1))
    api.drain()
    assert [i["title"] for i in api.incidents()] == ["HighCPU on web-01"]  # web-02 resolved meanwhile
    assert alert_named(api, "HighCPU-web-02")["reason"].endswith("; resolved")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ends_at": "1h", "comment": "x"}, "matchers"),
        ({"matchers": {}, "ends_at": "1h", "comment": "x"}, "matchers"),
        ({"matchers": {"name": "=~(Disk"}, "ends_at": "1h", "comment": "x"}, "matchers.name"),
        ({"matchers": {"bad key": "x"}, "ends_at": "1h", "comment": "x"}, "matchers.bad key"),
        ({"matchers": {"host": "a"}, "comment": "x"}, "ends_at"),
        ({"matchers": {"host": "a"}, "ends_at": "2020-01-01T00:00:00Z", "comment": "x"}, "ends_at"),
        ({"matchers": {"host": "a"}, "ends_at": "tomorrow", "comment": "x"}, "ends_at"),
        ({"matchers": {"host": "a"}, "ends_at": "1h"}, "comment"),
        ({"matchers": {"host": "a"}, "starts_at": 5, "ends_at": "1h", "comment": "x"}, "starts_at"),
    ],
)
def test_a_bad_silence_is_refused_saying_which_field(api: Api, body: dict[str, Any], field: str) -> None:
    response = silence(api, **body)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(f"{field}:")
    assert api.get("/api/silences")["items"] == []


def test_silences_need_the_api_token(api: Api) -> None:
    response = api.client.post(
        "/api/silences", json={"matchers": {"host": "a"}, "ends_at": "1h", "comment": "x"}
    )
    assert response.status_code == 401


def test_an_inhibited_alert_is_listed_with_the_incident_that_explains_it(api: Api) -> None:
    fire(api, "HostDown", "db-01")
    fire(api, "HighCPU", "db-01")
    fire(api, "HighCPU", "db-02")
    (cpu_02, down) = api.incidents()
    assert down["title"] == "HostDown on db-01"
    detail = api.incident(down["number"])
    assert [a["fingerprint"] for a in detail["related"]] == ["alertmanager:HighCPU-db-01"]
    assert detail["related"][0]["decision"] == "inhibited"
    assert detail["related"][0]["reason"] == f"inhibited by HostDown on db-01 (incident {down['number']})"
    assert [e["text"] for e in detail["timeline"] if e["kind"] == "related"] == [
        f"related alert held back: HighCPU on db-01 (warning) (inhibited by HostDown on db-01 "
        f"(incident {down['number']}))"
    ]
    assert cpu_02["title"] == "HighCPU on db-02"


def test_maintenance_shows_in_the_rules_and_on_the_alert(api: Api, clock: FakeClock) -> None:
    (window,) = api.get("/api/rules")["maintenance"]
    assert (window["name"], window["active_until"]) == ("db-sunday", "2026-11-22T08:00:00Z")
    fire(api, "HighCPU", "db-03")
    held = alert_named(api, "HighCPU-db-03")
    assert (held["decision"], held["reason"]) == (
        "suppressed",
        "in maintenance db-sunday until 2026-11-22 08:00:00 UTC",
    )
    clock.set(clock.now().replace(hour=8, minute=0, second=0, microsecond=0))
    api.drain()
    (incident,) = api.incidents()
    assert incident["opened_at"] == "2026-11-22T08:00:00Z"
    assert api.get("/api/rules")["maintenance"][0]["active_until"] is None


def test_a_flapping_incident_is_marked_and_stays_open(api: Api, clock: FakeClock) -> None:
    for _ in range(3):
        started = clock.now()
        fire(api, "Ping", "r1")
        clock.advance(timedelta(minutes=1))
        fire(api, "Ping", "r1", resolved=True, started=started)
        clock.advance(timedelta(minutes=4))
    (incident,) = api.incidents()
    assert incident["flapping"] is True
    assert incident["status"] == "open"
    kinds = [e["kind"] for e in api.incident(incident["number"])["timeline"]]
    assert "flapping_started" in kinds
    assert "resolved" not in kinds
    clock.advance(timedelta(hours=1))
    api.drain()
    incident = api.incident(incident["number"])
    assert (incident["flapping"], incident["status"]) == (False, "resolved")

"""An incident a `for:` hold opens later is routed like one its rule opens at once: it has the
alert's client, so the client's engineer owns it and the client's policy and deadlines apply
(through the webhook, the pipeline, the timer and the duty, on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

from bridge.clock import FakeClock
from tests.support.app import ADMIN_TOKEN, AM_TOKEN
from tests.support.duty import Desk, running_desk
from tests.support.payloads import am_alert, am_notification

RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
rules:
  - name: held
    match: {name: DiskFull}
    client: {label: customer}
    for: 10m
  - name: at-once
    match: {name: DiskAlmostFull}
    client: {label: customer}
"""


def fire(desk: Desk, name: str, customer: str) -> None:
    alert = am_alert(name, starts_at="2026-11-19T09:00:00Z", host="pos-12", customer=customer)
    response = desk.client.post(
        "/webhooks/alertmanager", json=am_notification(alert), headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert response.status_code == 202
    desk.drain()


def missing(desk: Desk, number: int) -> bool:
    response = desk.client.get(f"/api/incidents/{number}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    return response.status_code == 404


def routing(desk: Desk, number: int) -> tuple[object, ...]:
    incident = desk.incident(number)
    responsible = [t for t in desk.timeline(number, "assigned") if t.startswith("responsible:")]
    return (
        incident["client"],
        incident["assignee"],
        incident["policy"],
        incident["line"],
        incident["ack_due_at"] is not None,
        [t.split(";")[0] for t in responsible],
    )


def test_a_held_alert_opens_an_incident_with_its_client_and_the_clients_routing(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with running_desk(database_url, tmp_path, clock, RULES) as desk:
        desk.at("2026-11-19 12:00")  # Thursday, in the retail client's business hours
        fire(desk, "DiskAlmostFull", "retail")  # its rule opens at once: incident 1
        fire(desk, "DiskFull", "retail")  # held by `for: 10m`
        assert missing(desk, 2)  # still held
        desk.at("2026-11-19 12:09")
        assert missing(desk, 2)
        desk.at("2026-11-19 12:10")
        held = desk.incident(2)
        assert held["title"].startswith("DiskFull")
        assert routing(desk, 2) == routing(desk, 1)
        assert held["client"] == "retail"
        assert "assigned engineer of retail" in routing(desk, 2)[5][0]

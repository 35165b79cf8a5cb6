"""A recovery must not page (issue 13): Alertmanager `resolved` and Zabbix recoveries of problems
bridge never saw fire are recorded in `GET /api/alerts` with their reason, and open no incident,
so nobody is registered or paged, then or later."""

from __future__ import annotations

from datetime import timedelta

from tests.support.app import AM_TOKEN, ZBX_TOKEN
from tests.support.duty import Desk, desk
from tests.support.payloads import am_alert, am_notification, captured

__all__ = ["desk"]


def test_recoveries_of_problems_never_seen_firing_are_recorded_and_page_nobody(desk: Desk) -> None:
    desk.at("2026-11-21 12:00")
    gone = am_alert(
        "HostDown",
        status="resolved",
        starts_at="2026-11-01T08:00:00Z",  # older than this bridge
        ends_at="2026-11-21T08:59:00Z",
        host="pos-12",
        customer="retail",
        severity="critical",
    )
    answer = desk.client.post(
        "/webhooks/alertmanager", json=am_notification(gone), headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert answer.status_code == 202
    recovery = desk.client.post(
        "/webhooks/zabbix",
        data=captured("zabbix/05-recovery.json").body_raw,
        headers={"Authorization": f"Bearer {ZBX_TOKEN}", "Content-Type": "application/json"},
    )
    assert (recovery.status_code, recovery.get_json()) == (202, {"accepted": 1, "tags": {}})
    desk.drain()
    desk.clock.advance(timedelta(hours=1))  # resolve_after, escalation steps: nothing is waiting
    desk.drain()

    assert desk.get("/api/incidents")["items"] == []
    alerts = {a["source"]: a for a in desk.get("/api/alerts")["items"]}
    assert {(a["status"], a["decision"], a["incident"]) for a in alerts.values()} == {
        ("resolved", "cleared", None)
    }
    assert alerts["alertmanager"]["reason"] == (
        "resolved before bridge saw it fire (began 2026-11-01 08:00:00 UTC): no incident"
    )
    assert alerts["zabbix"]["reason"].startswith("resolved before bridge saw it fire (began ")
    assert desk.inbox.mails == []
    assert desk.http.posted("/") == []

    # The same alert firing now is news: it opens an incident and registers it, as ever.
    firing = am_alert(
        "HostDown",
        starts_at="2026-11-21T10:00:00Z",
        host="pos-12",
        customer="retail",
        severity="critical",
    )
    desk.client.post(
        "/webhooks/alertmanager",
        json=am_notification(firing),
        headers={"Authorization": f"Bearer {AM_TOKEN}"},
    )
    desk.drain()
    assert [i["number"] for i in desk.get("/api/incidents")["items"]] == [1]
    assert desk.pages(1)[0].startswith("registration message: paging ")

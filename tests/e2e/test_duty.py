"""Ownership, SLA and the lifecycle rules of the desk, through the API with the example rota:
who owns what when, SLA breaches, closing needs confirmation, returns to the head of IT, stale
incidents, incident types, priority and reassignment, on-call overrides, and the SLA report."""

from __future__ import annotations

import time
from pathlib import Path

from bridge.services.live import SETTLE
from bridge.timeutil import iso as to_iso
from tests.support.app import AM_TOKEN
from tests.support.duty import Desk, desk, msk
from tests.support.payloads import am_alert, am_notification

__all__ = ["desk"]


def iso(text: str) -> str:
    return msk(text).astimezone().isoformat()


def z(text: str) -> str:
    """A Moscow wall-clock time as the API prints it (UTC, Z)."""

    value = to_iso(msk(text))
    assert value is not None
    return value


def test_a_p3_opened_on_friday_evening_is_due_on_monday_and_registered_to_its_engineer(desk: Desk) -> None:
    desk.at("2026-11-20 17:50")
    incident = desk.open(
        title="Cash registers offline in store 12",
        client="retail",
        priority="P3",
        reporter="store 12 manager (phone)",
        description="All four registers show 'no connection' since 17:30.",
    )
    assert incident["assignee"] == "lebedeva"  # the retail engineer of the week, in business hours
    assert (incident["ack_due_at"], incident["resolve_due_at"]) == (
        z("2026-11-23 10:50"),
        z("2026-11-23 17:50"),
    )
    assert desk.timeline(1)[:2] == [
        "opened P3 incident by admin for store 12 manager (phone)",
        "responsible: Maria Lebedeva (lebedeva) (assigned engineer of retail (retail-engineers) (its business "
        "hours)); line L1; escalation policy default; acknowledge by Mon 2026-11-23 10:50 MSK, resolve by "
        "Mon 2026-11-23 17:50 MSK",
    ]
    (mail,) = [m for m in desk.inbox.mails if m.recipients == ["lebedeva@desk.example"]]
    assert mail.subject == "[bridge] #1 P3 registered: Cash registers offline in store 12"
    assert mail.message["From"] == "bridge@desk.example"
    assert "Responsible: Maria Lebedeva (lebedeva)" in mail.text
    assert "Acknowledge: Mon 2026-11-23 10:50 MSK" in mail.text
    assert "Resolve:     Mon 2026-11-23 17:50 MSK" in mail.text
    assert "https://bridge.desk.example/incidents/1" in mail.text
    assert "All four registers show 'no connection' since 17:30." in mail.text


def test_an_alert_gets_its_client_owner_policy_and_deadlines_at_once(desk: Desk) -> None:
    desk.at("2026-11-21 12:00")  # Saturday: the weekend duty engineer owns it
    alert = am_alert(
        "HostDown", starts_at="2026-11-21T08:59:00Z", host="pos-12", customer="retail", severity="critical"
    )
    response = desk.client.post(
        "/webhooks/alertmanager", json=am_notification(alert), headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert response.status_code == 202
    desk.drain()
    incident = desk.incident(1)
    assert (incident["client"], incident["priority"], incident["route"]) == ("retail", "P1", "critical")
    assert (incident["assignee"], incident["policy"], incident["type"]) == ("belov", "critical", "incident")
    assert incident["line"] == "L2"  # the rule says so
    # critical's first step pages the responsible and the operator on shift at once.
    assert desk.pages(1) == [
        "registration message: paging Dmitry Belov (belov) (on duty in schedule weekend-duty) by email, telegram",
        "escalation: new incident (step 1/3 of critical, round 1/3: responsible, schedule day-operators, "
        "schedule night-operators): paging Viktor Volkov (volkov) (on duty in schedule day-operators) by email, "
        "telegram",
    ]


def test_breaching_a_target_is_recorded_marked_escalated_and_reported_to_the_head_of_it(desk: Desk) -> None:
    desk.at("2026-11-22 02:00")  # the bank has 24/7 support
    desk.open(title="Card payments declined", client="bank", priority="P1", route="critical")
    desk.at("2026-11-22 02:14")
    assert desk.incident(1)["ack_breached_at"] is None
    desk.at("2026-11-22 02:15")
    incident = desk.incident(1)
    assert incident["ack_breached_at"] == z("2026-11-22 02:15")
    assert desk.timeline(1, "sla_breached") == [
        "SLA breached: P1 target not acknowledged by Sun 2026-11-22 02:15 MSK"
    ]
    breach = [t for t in desk.pages(1) if t.startswith("breach:")]
    assert breach == [
        "breach: P1 target not acknowledged by Sun 2026-11-22 02:15 MSK: paging Kseniya Kuznetsova (kuznetsova) "
        "(responsible) by email, telegram; Natalia Smirnova (smirnova) (head of IT: P1 breaches are reported) "
        "by email, telegram"
    ]
    assert "[bridge] #1 P1 SLA breached: Card payments declined" in desk.mails_to("smirnova")
    # ...and escalation went one step further at once, saying why.
    assert desk.pages(1)[-1].startswith(
        "escalation: SLA breached: P1 target not acknowledged by Sun 2026-11-22 02:15 MSK (step 3/3 of critical"
    )
    desk.act(1, "ack")
    desk.at("2026-11-22 02:30")
    assert (
        desk.timeline(1, "sla_breached")[-1]
        == "SLA breached: P1 target not resolved by Sun 2026-11-22 02:30 MSK"
    )
    desk.act(1, "resolve")
    desk.act(1, "close", comment="bank confirmed")
    assert desk.incident(1)["status"] == "closed"


def test_resolved_is_not_closed_and_a_third_rejection_goes_to_the_head_of_it(desk: Desk) -> None:
    desk.at("2026-11-24 11:00")
    desk.open(title="Delivery slots do not load", client="logistics", priority="P3")
    assert desk.incident(1)["assignee"] == "morozov"
    desk.act(1, "ack")
    for attempt in range(1, 4):
        resolved = desk.act(1, "resolve", comment=f"fix {attempt}")
        assert resolved["status"] == "resolved"
        assert "close" in resolved["actions"]
        rejected = desk.act(1, "reject", comment="still broken")
        assert (rejected["status"], rejected["return_count"]) == ("open", attempt)
    incident = desk.incident(1)
    assert incident["assignee"] == "smirnova"
    assert desk.timeline(1, "assigned")[-1] == (
        "returned 3 times (more than 2): reassigned from Pavel Morozov (morozov) to the head of IT, "
        "Natalia Smirnova (smirnova)"
    )
    assert desk.mails_to("smirnova")[0] == "[bridge] #1 P3 returned to work: Delivery slots do not load"
    assert (
        desk.mails_to("morozov")[1:3] == ["[bridge] #1 P3 returned to work: Delivery slots do not load"] * 2
    )
    desk.act(1, "resolve", comment="rebuilt the slot cache")
    closed = desk.act(1, "close", comment="confirmed by the dispatcher")
    assert closed["status"] == "closed"


def test_an_incident_untouched_for_30_days_becomes_stale_and_any_update_clears_it(desk: Desk) -> None:
    desk.at("2026-11-24 11:00")
    desk.open(title="Old scanner firmware", client="logistics", priority="P5")  # no SLA targets
    desk.act(1, "ack", comment="will schedule")
    desk.at("2026-12-24 10:59")
    assert desk.incident(1)["status"] == "acknowledged"
    desk.at("2026-12-24 11:00")
    incident = desk.incident(1)
    assert (incident["status"], incident["stale_from"]) == ("stale", "acknowledged")
    assert desk.timeline(1, "stale") == ["stale: no change for 30d (since Tue 2026-11-24 11:00 MSK)"]
    assert desk.mails_to("morozov")[-1] == "[bridge] #1 is stale: Old scanner firmware"
    listed = desk.get("/api/incidents", status="stale")
    assert [i["number"] for i in listed["items"]] == [1]
    commented = desk.act(1, "comment", comment="firmware arrives next week")
    assert (commented["status"], commented["stale_from"]) == ("acknowledged", None)
    assert desk.timeline(1, "unstale") == ["no longer stale (comment)"]
    desk.at("2027-01-23 11:00")
    assert desk.incident(1)["status"] == "stale"  # 30 days after the comment


def test_cancel_priority_and_reassignment_are_recorded_and_move_the_deadlines(desk: Desk) -> None:
    desk.at("2026-11-24 11:00")
    desk.open(title="New user for the dispatcher", client="logistics", priority="P4", type="service_request")
    incident = desk.incident(1)
    assert (incident["type"], incident["ack_due_at"]) == ("service_request", z("2026-11-25 11:00"))
    raised = desk.act(1, "priority", priority="P2", comment="the shift starts at noon")
    assert (raised["priority"], raised["ack_due_at"], raised["resolve_due_at"]) == (
        "P2",
        z("2026-11-24 11:30"),
        z("2026-11-24 15:00"),
    )
    moved = desk.act(1, "assign", to="novikova", line="L3", comment="needs AD rights")
    assert (moved["assignee"], moved["line"]) == ("novikova", "L3")
    assert (
        desk.timeline(1, "assigned")[-1]
        == "responsible morozov -> novikova, line L1 -> L3 by admin: needs AD rights"
    )
    # Novikova has a webhook: the assignment reached it as JSON.
    (hook,) = desk.http.posted("/hooks/novikova")
    assert hook.body["kind"] == "assigned"
    assert hook.body["incident"] == 1
    assert hook.body["subject"] == "[bridge] #1 P2 assigned to you: New user for the dispatcher"
    unknown = desk.post("/api/incidents/1/assign", {"to": "novikva"})
    assert unknown.status_code == 400
    assert unknown.get_json()["error"] == "to: unknown person 'novikva' (did you mean 'novikova'?)"
    cancelled = desk.act(1, "cancel", comment="the user was hired elsewhere")
    assert (cancelled["status"], cancelled["actions"]) == ("cancelled", ["reopen", "comment"])
    desk.at("2026-11-24 16:00")
    assert desk.timeline(1, "sla_breached") == []  # a cancelled incident breaches nothing


def test_oncall_shows_who_is_on_duty_and_an_override_takes_over(desk: Desk) -> None:
    at = z("2026-11-24 03:00")
    body = desk.get("/api/oncall", at=at)
    assert body["timezone"] == "Europe/Moscow"
    days, nights = body["schedules"][0], body["schedules"][1]
    assert (days["schedule"], days["person"]) == ("day-operators", None)  # the day shift is over
    assert (nights["schedule"], nights["person"], nights["shift_start"], nights["shift_end"]) == (
        "night-operators",
        "orlov",
        z("2026-11-23 21:00"),
        z("2026-11-24 09:00"),
    )
    assert body["responsible"]["logistics"]["person"] == "orlov"
    response = desk.post(
        "/api/oncall/overrides",
        {
            "schedule": "night-operators",
            "person": "volkov",
            "starts_at": z("2026-11-24 00:00"),
            "ends_at": "6h",
            "reason": "Oleg is ill",
        },
    )
    assert response.status_code == 201, response.get_json()
    body = desk.get("/api/oncall", at=at)
    assert (body["schedules"][1]["person"], body["schedules"][1]["override"]) == ("volkov", True)
    desk.at("2026-11-24 03:00")
    assert desk.open(title="Night call", client="logistics")["assignee"] == "volkov"
    week = desk.get("/api/oncall/shifts", schedule="night-operators", **{"from": z("2026-11-23 09:00")})
    people = [s["person"] for s in week["schedules"]["night-operators"]]
    # Seven nights from Monday 09:00, each the night after its operator's day; Oleg's first is
    # cut by the override.
    assert people == [
        "orlov",
        "volkov",
        "orlov",
        "kuznetsova",
        "volkov",
        "orlov",
        "kuznetsova",
        "volkov",
        "orlov",
    ]
    bad = desk.post("/api/oncall/overrides", {"schedule": "nights", "person": "orlov", "ends_at": "1h"})
    assert bad.status_code == 404
    assert (
        bad.get_json()["error"]
        == "no schedule 'nights' (allowed: day-operators, night-operators, weekend-duty, retail-engineers)"
    )


def test_a_bad_rota_edit_keeps_the_last_good_one_and_shows_why(desk: Desk) -> None:
    rota: Path = desk.rules_dir / "rota.yaml"
    good = desk.get("/api/oncall")["rota"]["version"]
    text = rota.read_text()
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("  petrov:"))
    rota.write_text(text.replace("role: team_lead,", "role: team_leed,"))
    desk.drain()  # the worker sees the change...
    time.sleep(SETTLE.total_seconds())
    desk.drain()  # ...and reads the file once it stayed unchanged that long
    status = desk.get("/api/oncall")["rota"]
    assert status["version"] == good
    assert status["last_error"] == [f"{rota}:{line}: unknown role 'team_leed' (did you mean 'team_lead'?)"]
    assert desk.get("/api/oncall")["responsible"]["(no client)"]["person"] is not None  # still working
    rota.write_text(text.replace("Igor Petrov", "Igor P."))
    reloaded = desk.post("/api/oncall/reload")
    assert reloaded.status_code == 200
    assert reloaded.get_json()["last_error"] is None
    assert reloaded.get_json()["version"] != good


def test_the_sla_report_counts_times_and_breaches_per_client_and_priority(desk: Desk) -> None:
    desk.at("2026-11-24 10:00")
    desk.open(title="A", client="logistics", priority="P2")  # ack after 10m, resolved after 1h
    desk.open(title="B", client="logistics", priority="P2")  # ack after 40m: breached
    desk.at("2026-11-24 10:10")
    desk.act(1, "ack")
    desk.at("2026-11-24 10:40")
    desk.act(2, "ack")
    desk.at("2026-11-24 11:00")
    desk.act(1, "resolve")
    desk.act(2, "resolve")
    desk.open(title="C", client="retail", priority="P3")
    report = desk.get("/api/reports/sla", **{"from": z("2026-11-24 00:00"), "to": z("2026-11-25 00:00")})
    rows = {(r["client"], r["priority"]): r for r in report["rows"]}
    logistics = rows[("logistics", "P2")]
    assert (logistics["count"], logistics["acknowledged"], logistics["resolved"]) == (2, 2, 2)
    assert logistics["time_to_acknowledge"] == {"median_seconds": 1500.0, "p90_seconds": 2220.0}
    assert logistics["time_to_resolve"] == {"median_seconds": 3600.0, "p90_seconds": 3600.0}
    assert logistics["breaches"]["acknowledge"] == 1
    assert [(b["number"], b["target"], b["due_at"]) for b in logistics["breaches"]["incidents"]] == [
        (2, "acknowledge", z("2026-11-24 10:30"))
    ]
    assert rows[("retail", "P3")]["count"] == 1
    only = desk.get(
        "/api/reports/sla", client="retail", **{"from": z("2026-11-24 00:00"), "to": z("2026-11-25 00:00")}
    )
    assert [r["client"] for r in only["rows"]] == ["retail"]


def test_the_head_of_it_hears_of_incidents_still_open_after_three_days(desk: Desk) -> None:
    desk.at("2026-11-24 11:00")
    desk.open(title="Intermittent VPN drops at the depot", client="logistics", priority="P4")
    desk.act(1, "ack")
    long_open = "[bridge] #1 P4 open for long: Intermittent VPN drops at the depot"
    desk.at("2026-11-27 10:59")
    assert long_open not in desk.mails_to("smirnova")
    desk.at("2026-11-27 11:00")
    assert desk.mails_to("smirnova").count(long_open) == 1
    assert desk.pages(1)[-1] == (
        "long_open: open for 3d: paging Natalia Smirnova (smirnova) (head of IT: long-running incidents) "
        "by email, telegram"
    )
    desk.open(title="Resolved quickly", client="logistics", priority="P4")
    desk.act(2, "resolve")
    desk.at("2026-11-30 12:00")
    assert [m for m in desk.mails_to("smirnova") if "open for long" in m] == [long_open]


def test_a_time_typed_without_seconds_or_with_a_plain_offset_names_the_same_instant(desk: Desk) -> None:
    exact = desk.get("/api/oncall", at="2026-11-24T00:00:00Z")
    assert desk.get("/api/oncall", at="2026-11-24T00:00Z") == exact
    assert desk.get("/api/oncall", at="2026-11-24 03:00+0300") == exact

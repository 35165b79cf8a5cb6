"""Escalation with a fake clock, through the API with the example rota: every step, escalate now,
acknowledge, the ack timeout, a second round, the end of the policy, and timers that fire once
across a restart."""

from __future__ import annotations

from sqlalchemy import func, select

from bridge.db.models import Notification, Timer
from tests.support.app import build_runtime
from tests.support.duty import Desk, desk

__all__ = ["desk"]

STEP_1 = "(step 1/4 of default, round {r}/2: responsible): paging Oleg Orlov (orlov) (responsible for the incident) by email, telegram"
STEP_2 = "(step 2/4 of default, round {r}/2: assigned_engineer): paging Pavel Morozov (morozov) (assigned engineer of logistics) by email"
STEP_3 = "(step 3/4 of default, round {r}/2: role team_lead): paging Igor Petrov (petrov) (team lead) by email, telegram"
STEP_4 = "(step 4/4 of default, round {r}/2: role head_of_it): paging Natalia Smirnova (smirnova) (head of IT) by email, telegram"


def test_an_unacknowledged_incident_climbs_every_step_then_runs_the_policy_again(desk: Desk) -> None:
    desk.at("2026-11-24 03:00")  # Tuesday night: the operator on shift owns it
    incident = desk.open(title="Warehouse scanners cannot reach WMS", client="logistics", priority="P3")
    assert (incident["assignee"], incident["line"], incident["policy"]) == ("orlov", "L1", "default")
    assert desk.pages(1) == [
        "registration message: paging Oleg Orlov (orlov) (on duty in schedule night-operators) by email, telegram"
    ]
    desk.at("2026-11-24 03:14")
    assert len(desk.pages(1)) == 1  # step 1 waits 15 minutes
    desk.at("2026-11-24 03:15")
    desk.at("2026-11-24 03:45")
    desk.at("2026-11-24 04:15")
    desk.at("2026-11-24 05:15")  # step 4 waited an hour: the policy runs again (repeat: 2)
    assert desk.pages(1)[1:] == [
        "escalation: not acknowledged " + STEP_2.format(r=1),
        "escalation: not acknowledged " + STEP_3.format(r=1),
        "escalation: not acknowledged " + STEP_4.format(r=1),
        "escalation: not acknowledged " + STEP_1.format(r=2),
    ]
    for at in ("05:30", "06:00", "06:30", "07:30"):
        desk.at(f"2026-11-24 {at}")
    assert len(desk.pages(1)) == 8
    assert desk.timeline(1, "escalation")[-1] == (
        "not acknowledged: escalation policy default has no step left (ran 2 time(s))"
    )
    desk.at("2026-11-24 09:00")
    assert len(desk.pages(1)) == 8  # nothing more, however long it waits
    # Every page reached its people: e-mail to each, Telegram to those with a chat id.
    assert desk.mails_to("morozov") == ["[bridge] #1 P3 needs you: Warehouse scanners cannot reach WMS"] * 2
    chats = [r.body["chat_id"] for r in desk.http.posted("/bot")]
    assert chats == ["100001", "100010", "100011", "100001", "100010", "100011"]


def test_escalate_now_jumps_a_step_and_acknowledging_stops_escalation(desk: Desk) -> None:
    desk.at("2026-11-24 03:00")
    desk.open(title="Route planner returns 502", client="logistics", priority="P3")
    desk.at("2026-11-24 03:05")
    escalated = desk.act(1, "escalate", comment="driver called twice")
    assert escalated["escalation"] == {"step": 1, "round": 0}
    assert desk.pages(1)[-1] == "escalation: escalated by admin: driver called twice " + STEP_2.format(r=1)
    desk.at("2026-11-24 03:34")  # step 2 waits 30 minutes from the jump, not from the start
    assert len(desk.pages(1)) == 2
    desk.at("2026-11-24 03:35")
    assert desk.pages(1)[-1] == "escalation: not acknowledged " + STEP_3.format(r=1)
    desk.act(1, "ack", comment="looking")
    desk.at("2026-11-24 05:30")  # acknowledged: no more steps (the ack timeout is 2h)
    assert len(desk.pages(1)) == 3
    assert desk.incident(1)["status"] == "acknowledged"


def test_an_acknowledged_incident_left_alone_pages_again_after_the_ack_timeout(desk: Desk) -> None:
    desk.at("2026-11-24 03:00")
    desk.open(title="Label printers offline", client="logistics", priority="P3")
    desk.at("2026-11-24 03:10")
    desk.act(1, "ack")
    desk.at("2026-11-24 04:00")
    desk.act(1, "comment", comment="waiting for the vendor")  # life: the ack timeout counts from here
    desk.at("2026-11-24 05:59")
    assert desk.timeline(1, "ack_timeout") == []
    desk.at("2026-11-24 06:00")
    assert desk.timeline(1, "ack_timeout") == [
        "ack timeout: acknowledged 2h50m ago and neither resolved nor updated for 2h"
    ]
    ack_timeout = "ack timeout: acknowledged 2h50m ago and neither resolved nor updated for 2h"
    assert desk.pages(1)[-1] == (
        f"escalation: {ack_timeout}: paging Oleg Orlov (orlov) (responsible) by email, telegram"
    )
    desk.at("2026-11-24 06:15")  # and escalation carries on from there while nobody acts
    assert desk.pages(1)[-1] == "escalation: acknowledged but not worked on " + STEP_2.format(r=1)
    desk.act(1, "comment", comment="vendor is on site")  # an update stops it again
    desk.at("2026-11-24 07:00")
    assert desk.pages(1)[-1].endswith(STEP_2.format(r=1))
    desk.act(1, "resolve", comment="printers replaced")
    desk.at("2026-11-24 12:00")
    assert len(desk.timeline(1, "ack_timeout")) == 1


def test_timers_are_rows_a_restart_keeps_and_each_step_fires_once(desk: Desk) -> None:
    desk.at("2026-11-24 03:00")
    desk.open(title="WMS database replication lag", client="logistics", priority="P3")
    with desk.runtime.services.sessions() as session:
        kinds = set(session.scalars(select(Timer.kind).where(Timer.subject == "1")))
    assert kinds == {"escalation", "sla_ack", "sla_resolve", "stale", "long_open"}
    desk.runtime.close()  # the process stops; a new one starts on the same database
    desk.clock.set(desk.clock.now().replace(minute=20))
    second = build_runtime(desk.runtime.settings, desk.clock)
    third = build_runtime(desk.runtime.settings, desk.clock)
    try:
        second.runner.drain()
        third.runner.drain()
        with second.services.sessions() as session:
            sent = session.scalar(
                select(func.count()).select_from(Notification).where(Notification.person == "morozov")
            )
        assert sent == 1
    finally:
        second.close()
        third.close()

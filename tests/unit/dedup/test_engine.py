"""The rule engine, scenario by scenario, driven through the in-memory simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bridge.alert import Source, SourceUpdate, Status
from bridge.dedup.engine import EventClass, classify
from bridge.dedup.state import Disposition, Outcome
from bridge.priority import Priority
from tests.support.alerts import alert, at, simulator

RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: drop-info
    match: {severity: info}
    action: drop
  - name: disk
    match: {name: "=~Disk.*"}
    for: 10m
    priority: P3
  - name: ping
    match: {name: "=~Ping.*"}
    threshold: {count: 3, within: 15m}
    priority: P4
  - name: down
    match: {name: HostDown}
    group_by: [name]
    priority: P1
  - name: down-wide
    match: {name: "=~Host.*"}
    priority: P5
"""


def test_drop_rule_records_the_reason_and_opens_nothing() -> None:
    sim = simulator(RULES)
    decision = sim.feed(alert("Chatter", severity="info"))
    assert decision.outcome is Outcome.DROPPED
    assert decision.reason == "dropped by rule drop-info"
    assert sim.alerts[decision.alert.fingerprint].disposition is Disposition.DROPPED  # type: ignore[union-attr]
    assert sim.incidents == []


def test_first_matching_rule_wins() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "a"))
    assert sim.incidents[0].rule == "down"  # down-wide matches too, but later
    assert sim.incidents[0].priority is Priority.P1


def test_group_by_puts_alerts_with_equal_values_in_one_incident() -> None:
    sim = simulator(RULES)
    for host in ("a", "b", "c"):
        sim.feed(alert("HostDown", host, start=0.1))
    assert len(sim.incidents) == 1
    assert len(sim.incidents[0].alerts) == 3


def test_default_group_by_separates_hosts() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", "a"))
    sim.feed(alert("HighCPU", "b"))
    assert [i.title for i in sim.incidents] == ["HighCPU on a", "HighCPU on b"]


@pytest.mark.parametrize(
    ("severity", "priority"), [("critical", Priority.P1), ("high", Priority.P2), ("warning", Priority.P3)]
)
def test_priority_by_severity(severity: str, priority: Priority) -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", severity=severity))
    assert sim.incidents[0].priority is priority


def test_a_more_severe_alert_raises_the_incident_priority() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", severity="warning", fingerprint="a1"))
    sim.feed(alert("HighCPU", severity="critical", fingerprint="a2", start=1))
    assert sim.incidents[0].priority is Priority.P1
    assert any(kind == "priority" for _, kind, _ in sim.incidents[0].timeline)


def test_for_holds_until_the_time_passes_without_another_delivery() -> None:
    sim = simulator(RULES)
    decision = sim.feed(alert("DiskFull", start=0))
    assert decision.outcome is Outcome.WAITING
    assert decision.reason.startswith(
        "waiting: for 10m: firing since 2026-11-22 10:00:00 UTC, opens at 2026-11-22 10:10"
    )
    sim.advance(at(9.99))
    assert sim.incidents == []
    sim.advance(at(10))
    assert len(sim.incidents) == 1
    assert sim.incidents[0].opened_at == at(10)
    assert sim.alerts[decision.alert.fingerprint].disposition is Disposition.INCIDENT  # type: ignore[union-attr]


def test_for_counts_from_the_alerts_start_not_from_when_bridge_heard() -> None:
    sim = simulator(RULES)
    decision = sim.feed(alert("DiskFull", start=0, received=12))  # bridge was down; it fired 12 minutes ago
    assert decision.outcome is Outcome.OPENED


def test_resolving_before_for_elapses_clears_the_alert() -> None:
    sim = simulator(RULES)
    sim.feed(alert("DiskFull", start=0))
    decision = sim.feed(alert("DiskFull", status="resolved", start=0, end=4))
    assert decision.outcome is Outcome.CLEARED
    assert decision.reason.startswith("resolved before opening an incident (for 10m")
    sim.advance(at(30))
    assert sim.incidents == []


def test_threshold_needs_k_occurrences_within_the_window() -> None:
    sim = simulator(RULES)
    outcomes = []
    for n, minute in enumerate((0, 5, 9)):
        outcomes.append(sim.feed(alert("PingLoss", start=minute)).outcome)
        if n < 2:
            sim.feed(alert("PingLoss", status="resolved", start=minute, end=minute + 1))
    assert outcomes == [Outcome.WAITING, Outcome.WAITING, Outcome.OPENED]
    assert sim.incidents[0].priority is Priority.P4


def test_threshold_reason_shows_the_arithmetic() -> None:
    sim = simulator(RULES)
    sim.feed(alert("PingLoss", start=0))
    sim.feed(alert("PingLoss", status="resolved", start=0, end=1))
    decision = sim.feed(alert("PingLoss", start=5))
    assert decision.reason == "waiting: threshold 2 of 3 within 15m"


def test_threshold_occurrences_spread_wider_than_the_window_do_not_open() -> None:
    sim = simulator(RULES)
    for minute in (0, 10, 20, 30):
        sim.feed(alert("PingLoss", start=minute))
        sim.feed(alert("PingLoss", status="resolved", start=minute, end=minute + 1))
    assert sim.incidents == []


def test_threshold_and_for_combined() -> None:
    rules = "rules:\n  - name: both\n    match: {name: Flaky}\n    threshold: {count: 2, within: 10m}\n    for: 5m\n"
    sim = simulator(rules)
    sim.feed(alert("Flaky", start=0))
    sim.feed(alert("Flaky", status="resolved", start=0, end=1))
    assert sim.feed(alert("Flaky", start=3)).outcome is Outcome.WAITING  # 2 of 2, but firing only since 3
    sim.advance(at(7.9))
    assert sim.incidents == []
    sim.advance(at(8))
    assert len(sim.incidents) == 1


def test_incident_resolves_after_resolve_after_of_quiet() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    decision = sim.feed(alert("HighCPU", status="resolved", start=0, end=3))
    assert decision.outcome is Outcome.RESOLVED
    sim.advance(at(7.9))
    assert sim.incidents[0].status == "open"
    sim.advance(at(8))
    assert sim.incidents[0].status == "resolved"
    assert sim.incidents[0].resolved_at == at(8)


def test_firing_again_before_resolve_after_keeps_the_incident_open() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    sim.feed(alert("HighCPU", status="resolved", start=0, end=3))
    decision = sim.feed(alert("HighCPU", start=5))
    sim.advance(at(60))
    assert decision.outcome is Outcome.ATTACHED
    assert sim.incidents[0].status == "open"
    assert sim.incidents[0].occurrences == 2
    assert len(sim.incidents[0].alerts) == 1


def test_firing_again_within_reopen_within_reopens_the_same_incident() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    sim.feed(alert("HighCPU", status="resolved", start=0, end=1))
    sim.advance(at(6))
    assert sim.incidents[0].status == "resolved"
    decision = sim.feed(alert("HighCPU", start=30))
    assert decision.outcome is Outcome.REOPENED
    assert len(sim.incidents) == 1
    assert sim.incidents[0].status == "open"
    assert sim.incidents[0].reopen_count == 1


def test_firing_again_after_reopen_within_opens_a_new_incident() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    sim.feed(alert("HighCPU", status="resolved", start=0, end=1))
    sim.advance(at(6))
    decision = sim.feed(alert("HighCPU", start=6 + 61))
    assert decision.outcome is Outcome.OPENED
    assert [i.number for i in sim.incidents] == [1, 2]


def test_repeat_delivery_changes_nothing() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    before = (dict(sim.alerts), dict(sim.groups), [(i.status, i.occurrences) for i in sim.incidents])
    decision = sim.feed(alert("HighCPU", start=0, received=4))
    assert decision.outcome is Outcome.DUPLICATE
    assert (dict(sim.alerts), dict(sim.groups), [(i.status, i.occurrences) for i in sim.incidents]) == before


def test_a_late_old_resolution_never_rolls_back_a_newer_firing() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    sim.feed(alert("HighCPU", status="resolved", start=0, end=1))
    sim.feed(alert("HighCPU", start=2))
    decision = sim.feed(alert("HighCPU", status="resolved", start=0, end=1, received=3))
    assert decision.outcome is Outcome.STALE
    assert decision.reason.startswith("ignored: older than what is known (firing at 2026-11-22 10:02")
    assert sim.alerts["alertmanager:HighCPU@web-01"].status is Status.FIRING


def test_firing_news_about_an_already_resolved_occurrence_is_stale() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    sim.feed(alert("HighCPU", status="resolved", start=0, end=1))
    assert sim.feed(alert("HighCPU", start=0, received=2)).outcome is Outcome.STALE


def test_an_occurrence_first_seen_resolved_is_recorded_not_an_incident() -> None:
    """It fired while bridge was not looking and is over: nobody is paged for a recovery (more in
    test_engine_recoveries.py)."""
    sim = simulator(RULES)
    decision = sim.feed(alert("HighCPU", status="resolved", start=0, end=2, received=3))
    assert decision.outcome is Outcome.CLEARED
    assert decision.alert is not None and decision.alert.status is Status.RESOLVED
    sim.advance(at(60))
    assert sim.incidents == []


def test_a_dropped_alert_that_escalates_is_routed_again() -> None:
    sim = simulator(RULES)
    first = sim.feed(alert("Load", severity="info", source=Source.ZABBIX, fingerprint="zabbix:z:1"))
    assert first.outcome is Outcome.DROPPED
    raised = sim.feed(
        alert("Load", severity="critical", source=Source.ZABBIX, fingerprint="zabbix:z:1", received=2)
    )
    assert raised.outcome is Outcome.OPENED
    assert sim.incidents[0].priority is Priority.P1


def test_zabbix_update_becomes_a_note_and_recovery_resolves() -> None:
    sim = simulator(RULES)
    fingerprint = "zabbix:zbx:24"
    sim.feed(alert("Load", source=Source.ZABBIX, fingerprint=fingerprint))
    ack = SourceUpdate("acknowledged", "on it", "Ivanov", at(1), acknowledged=True)
    decision = sim.feed(alert("Load", source=Source.ZABBIX, fingerprint=fingerprint, received=1, update=ack))
    assert decision.outcome is Outcome.UPDATED
    assert sim.incidents[0].timeline[-1][2] == "Ivanov in Zabbix: acknowledged: on it"
    sim.feed(alert("Load", status="resolved", source=Source.ZABBIX, fingerprint=fingerprint, end=2))
    sim.advance(at(8))
    assert sim.incidents[0].status == "resolved"


def test_zabbix_messages_disagreeing_on_the_start_are_the_same_problem() -> None:
    sim = simulator(RULES)
    fingerprint = "zabbix:zbx:24"
    sim.feed(alert("Load", source=Source.ZABBIX, fingerprint=fingerprint, start=0))
    decision = sim.feed(
        alert("Load", status="resolved", source=Source.ZABBIX, fingerprint=fingerprint, start=-1, end=3)
    )
    assert decision.outcome is Outcome.RESOLVED
    assert sim.alerts[fingerprint].starts_at == at(0)


def test_a_note_about_a_resolved_problem_still_reaches_the_incident() -> None:
    sim = simulator(RULES)
    fingerprint = "zabbix:zbx:24"
    sim.feed(alert("Load", source=Source.ZABBIX, fingerprint=fingerprint))
    sim.feed(alert("Load", status="resolved", source=Source.ZABBIX, fingerprint=fingerprint, end=1))
    comment = SourceUpdate("commented", "root cause: cron", "Petrov", at(2))
    decision = sim.feed(
        alert("Load", source=Source.ZABBIX, fingerprint=fingerprint, received=2, update=comment)
    )
    assert decision.outcome is Outcome.NOTED
    assert sim.incidents[0].timeline[-1][2] == "Petrov in Zabbix: commented: root cause: cron"


def test_classify() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=5))
    known = sim.alerts["alertmanager:HighCPU@web-01"]
    assert classify(alert("HighCPU", start=6), known) is EventClass.NEW
    assert classify(alert("HighCPU", start=5), known) is EventClass.SAME
    assert classify(alert("HighCPU", status="resolved", start=5, end=6), known) is EventClass.SAME
    assert classify(alert("HighCPU", start=4), known) is EventClass.STALE


def test_hold_timer_requests_are_durable_timers_not_waiting_in_memory() -> None:
    sim = simulator(RULES)
    decision = sim.feed(alert("DiskFull", start=0))
    assert [(t.kind.value, t.due) for t in decision.timers] == [("hold", at(10))]


def test_resolve_timer_due_time() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", start=0))
    decision = sim.feed(alert("HighCPU", status="resolved", start=0, end=2))
    assert [(t.kind.value, t.due) for t in decision.timers] == [("resolve", at(2) + timedelta(minutes=5))]

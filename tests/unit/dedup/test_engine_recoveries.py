"""A recovery never pages: a resolved event of an occurrence bridge never saw fire is recorded,
and it opens, joins or reopens no incident, under every kind of rule (issue 13)."""

from __future__ import annotations

import pytest

from bridge.alert import Source, Status
from bridge.dedup.matchers import parse_matcher
from bridge.dedup.simulator import Simulator
from bridge.dedup.state import Disposition, Outcome, Silence
from tests.support.alerts import alert, at, simulator

RULES = """
defaults:
  resolve_after: 5m
  reopen_within: 1h
rules:
  - name: drop-info
    match: {severity: info}
    action: drop
  - name: held
    match: {name: Held}
    for: 10m
  - name: counted
    match: {name: Counted}
    threshold: {count: 2, within: 30m}
  - name: once
    match: {name: Once}
    threshold: {count: 1, within: 30m}
  - name: flappy
    match: {name: Flappy}
    flapping: {changes: 2, within: 30m, below: 1}
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    inhibits: {equal: [host]}
  - name: pods
    match: {name: PodCrashLooping}
    dedup_by: [name, namespace]
    group_by: [name, namespace]
  - name: wide
    match: {name: Wide}
    group_by: [name]
  - name: watchdog
    kind: heartbeat
    match: {name: Watchdog}
    every: 5m
maintenance:
  - name: db-nightly
    match: {host: db-03}
    every: "sun 10:00-11:00"   # T0 of these tests is Sunday 2026-11-22 10:00 UTC
    timezone: UTC
"""

REASON = "resolved before bridge saw it fire (began 2026-11-22 10:00:00 UTC): no incident"


def silenced() -> Simulator:
    sim = simulator(RULES)
    sim.silences = (
        Silence(7, (parse_matcher("host", "web-09"),), at(0), at(60), author="ivanov", comment="upgrade"),
    )
    return sim


@pytest.mark.parametrize(
    ("name", "host", "source", "disposition"),
    [
        ("Plain", "web-01", Source.ALERTMANAGER, Disposition.CLEARED),
        ("Plain", "web-01", Source.ZABBIX, Disposition.CLEARED),
        ("Held", "web-01", Source.ALERTMANAGER, Disposition.CLEARED),
        ("Counted", "web-01", Source.ALERTMANAGER, Disposition.CLEARED),
        ("Once", "web-01", Source.ZABBIX, Disposition.CLEARED),
        ("Flappy", "web-01", Source.ALERTMANAGER, Disposition.CLEARED),
        ("HostDown", "db-01", Source.ZABBIX, Disposition.CLEARED),
        ("PodCrashLooping", "web-01", Source.ALERTMANAGER, Disposition.CLEARED),
        ("Wide", "web-01", Source.ALERTMANAGER, Disposition.CLEARED),
        ("Plain", "db-03", Source.ALERTMANAGER, Disposition.CLEARED),  # in maintenance
        ("Watchdog", "am", Source.ALERTMANAGER, Disposition.HEARTBEAT),
    ],
)
def test_a_recovery_of_an_alert_never_seen_is_recorded_and_opens_nothing(
    name: str, host: str, source: Source, disposition: Disposition
) -> None:
    sim = simulator(RULES)
    fingerprint = f"zabbix:zbx:{name}" if source is Source.ZABBIX else None
    event = alert(
        name, host, status="resolved", start=0, end=2, received=3, source=source, fingerprint=fingerprint
    )
    decision = sim.feed(event)
    assert decision.alert is not None
    assert (decision.alert.status, decision.alert.disposition) == (Status.RESOLVED, disposition)
    assert decision.alert.incident is None
    assert (decision.effects, decision.timers, decision.groups) == ((), (), ())
    if disposition is Disposition.CLEARED:
        assert (decision.outcome, decision.reason) == (Outcome.CLEARED, REASON)
    sim.advance(at(24 * 60))
    assert sim.incidents == []
    assert sim.alerts[decision.alert.fingerprint].describe() == decision.reason


def test_a_zabbix_recovery_for_an_unknown_event_opens_nothing_then_or_later() -> None:
    sim = simulator(RULES)
    recovery = alert("Load", status="resolved", source=Source.ZABBIX, fingerprint="zabbix:z:9", end=1)
    assert sim.feed(recovery).outcome is Outcome.CLEARED
    late_problem = alert("Load", source=Source.ZABBIX, fingerprint="zabbix:z:9", received=2)
    assert sim.feed(late_problem).outcome is Outcome.STALE  # the recovery is the newer news
    sim.advance(at(60))
    assert sim.incidents == []


def test_a_dropped_recovery_stays_dropped() -> None:
    sim = simulator(RULES)
    decision = sim.feed(alert("Chatter", severity="info", status="resolved", end=1))
    assert (decision.outcome, decision.reason) == (Outcome.DROPPED, "dropped by rule drop-info")


def test_a_silenced_or_inhibited_recovery_is_recorded_without_a_related_entry() -> None:
    sim = silenced()
    sim.feed(alert("HostDown", "db-01"))
    inhibited = sim.feed(alert("HighCPU", "db-01", status="resolved", end=1, received=2))
    muted = sim.feed(alert("HighCPU", "web-09", status="resolved", end=1, received=2))
    assert [d.outcome for d in (inhibited, muted)] == [Outcome.CLEARED, Outcome.CLEARED]
    assert inhibited.effects == () and muted.timers == ()
    (incident,) = sim.incidents
    assert incident.related == set()


def test_a_recovery_never_joins_an_open_incident_of_its_group() -> None:
    sim = simulator(RULES)
    sim.feed(alert("Wide", "web-01"))
    (incident,) = sim.incidents
    before = list(incident.timeline)
    decision = sim.feed(alert("Wide", "web-02", status="resolved", end=1, received=2))
    assert decision.outcome is Outcome.CLEARED
    assert incident.alerts == {"alertmanager:Wide@web-01"}
    assert (incident.occurrences, incident.timeline) == (1, before)


def test_a_recovery_never_reopens_a_recently_resolved_incident() -> None:
    sim = simulator(RULES)
    sim.feed(alert("Wide", "web-01"))
    sim.feed(alert("Wide", "web-01", status="resolved", end=1))
    sim.advance(at(10))
    (incident,) = sim.incidents
    assert incident.status == "resolved"
    sim.feed(alert("Wide", "web-02", status="resolved", start=11, end=12, received=13))
    sim.advance(at(60))
    assert (incident.status, incident.reopen_count) == ("resolved", 0)


def test_a_new_occurrence_of_a_known_alert_first_seen_resolved_opens_nothing() -> None:
    """It fired and resolved between two notifications: bridge knows the alert, not this occurrence."""
    sim = simulator(RULES)
    sim.feed(alert("Plain", start=0))
    sim.feed(alert("Plain", status="resolved", start=0, end=1))
    sim.advance(at(10))
    (incident,) = sim.incidents
    decision = sim.feed(alert("Plain", status="resolved", start=20, end=22, received=23))
    assert decision.outcome is Outcome.CLEARED
    assert (
        decision.reason == "resolved before bridge saw it fire (began 2026-11-22 10:20:00 UTC): no incident"
    )
    state = sim.alerts["alertmanager:Plain@web-01"]
    assert (state.starts_at, state.occurrences, state.incident) == (at(20), 2, None)
    sim.advance(at(24 * 60))
    assert (len(sim.incidents), incident.status, incident.reopen_count) == (1, "resolved", 0)


def test_a_recovery_of_a_later_occurrence_ends_the_one_still_counted() -> None:
    """The resolution of the first occurrence was lost; the second one is only seen resolved: the
    first is over (it ended when the second began), so its incident resolves, and the second
    joins nothing."""
    sim = simulator(RULES)
    sim.feed(alert("Plain", start=0))
    decision = sim.feed(alert("Plain", status="resolved", start=20, end=22, received=23))
    assert decision.outcome is Outcome.CLEARED
    (incident,) = sim.incidents
    assert [kind for _, kind, _ in incident.timeline] == ["opened", "alert", "alert_resolved"]
    assert incident.occurrences == 1
    sim.advance(at(24.9))
    assert incident.status == "open"
    sim.advance(at(25))  # resolve_after 5m from the first occurrence's end at 20
    assert incident.status == "resolved"


def test_recoveries_never_seen_firing_do_not_count_towards_a_threshold() -> None:
    sim = simulator(RULES)
    sim.feed(alert("Counted", status="resolved", start=0, end=1))
    sim.feed(alert("Counted", status="resolved", start=5, end=6))
    decision = sim.feed(alert("Counted", start=10))
    assert (decision.outcome, decision.reason) == (Outcome.WAITING, "waiting: threshold 1 of 2 within 30m")


def test_recoveries_never_seen_firing_do_not_make_a_group_flap() -> None:
    sim = simulator(RULES)
    for start in range(0, 20, 2):
        sim.feed(alert("Flappy", status="resolved", start=start, end=start + 1))
    sim.feed(alert("Flappy", start=30))
    (incident,) = sim.incidents
    assert not incident.flapping
    assert not sim.groups[incident.group_key].flapping


def test_an_inhibiting_alert_whose_lost_resolution_shows_in_a_later_recovery_lets_go() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01"))
    assert sim.feed(alert("HighCPU", "db-01", start=1)).outcome is Outcome.INHIBITED
    decision = sim.feed(alert("HostDown", "db-01", status="resolved", start=10, end=11, received=12))
    assert decision.releases == ("inhibit:alertmanager:HostDown@db-01",)
    assert sim.alerts["alertmanager:HighCPU@db-01"].disposition is Disposition.INCIDENT


def test_a_resolved_member_never_seen_changes_nothing_of_a_firing_merged_alert() -> None:
    sim = simulator(RULES)
    sim.feed(alert("PodCrashLooping", "pod-a", labels={"namespace": "shop"}))
    (incident,) = sim.incidents
    before = list(incident.timeline)
    decision = sim.feed(
        alert("PodCrashLooping", "pod-b", status="resolved", end=1, labels={"namespace": "shop"})
    )
    assert decision.outcome is Outcome.DUPLICATE
    assert incident.timeline == before

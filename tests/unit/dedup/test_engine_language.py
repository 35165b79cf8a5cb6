"""The rules language beyond the core, scenario by scenario: dedup_by, threshold with for, flapping,
inhibition, maintenance, silences, heartbeats, continue and routing, each with its reason."""

from __future__ import annotations

from datetime import timedelta

from bridge.alert import Source, Status
from bridge.dedup.matchers import parse_matcher
from bridge.dedup.state import Disposition, Outcome, Silence
from bridge.priority import Priority
from tests.support.alerts import alert, at, simulator

RULES = """
defaults:
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: acme
    match: {customer: acme}
    client: {label: customer}
    route: acme-team
    continue: true
  - name: zabbix-clients
    match: {source: zabbix}
    client: {host_group: "Clients/(.*)"}
    continue: true
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    priority: P1
    route: infra
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
  - name: pods
    match: {name: PodCrashLooping}
    dedup_by: [name, namespace]
    group_by: [name, namespace]
  - name: sustained
    match: {name: Sustained}
    threshold: {count: 2, within: 10m}
    for: 5m
  - name: ping
    match: {name: Ping}
    flapping: {changes: 4, within: 30m, below: 2}
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


def timeline(sim, number: int) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return [(kind, text) for _, kind, text in sim.incidents[number - 1].timeline]


# -- dedup_by -----------------------------------------------------------------------------------


def test_dedup_by_merges_alerts_that_differ_only_in_noisy_labels() -> None:
    sim = simulator(RULES)
    for pod in ("api-7d9f-1", "api-7d9f-2", "api-7d9f-3"):
        sim.feed(alert("PodCrashLooping", pod, labels={"namespace": "shop", "pod": pod}))
    (incident,) = sim.incidents
    assert len(incident.alerts) == 1  # one merged alert, not three
    merged = sim.alerts[next(iter(incident.alerts))]
    assert {m.fingerprint for m in merged.members} == {
        f"alertmanager:PodCrashLooping@api-7d9f-{i}" for i in (1, 2, 3)
    }


def test_a_merged_alert_resolves_only_when_its_last_member_resolves() -> None:
    sim = simulator(RULES)
    pods = ("p1", "p2")
    for pod in pods:
        sim.feed(alert("PodCrashLooping", pod, labels={"namespace": "shop"}))
    sim.feed(alert("PodCrashLooping", "p1", status="resolved", end=2, labels={"namespace": "shop"}))
    merged = next(iter(sim.incidents[0].alerts))
    assert sim.alerts[merged].status is Status.FIRING
    sim.feed(alert("PodCrashLooping", "p2", status="resolved", end=3, labels={"namespace": "shop"}))
    assert sim.alerts[merged].status is Status.RESOLVED
    sim.advance(at(10))
    assert sim.incidents[0].status == "resolved"


# -- threshold and for together ---------------------------------------------------------------


def test_threshold_and_for_both_have_to_pass() -> None:
    sim = simulator(RULES)
    first = sim.feed(alert("Sustained", "a", start=0))
    assert first.reason == "waiting: threshold 1 of 2 within 10m"
    sim.feed(alert("Sustained", "a", status="resolved", start=0, end=1))
    second = sim.feed(alert("Sustained", "a", start=3))
    assert second.outcome is Outcome.WAITING
    assert second.reason.startswith("waiting: threshold 2 of 2 within 10m; for 5m: firing since")
    sim.advance(at(7.9))
    assert sim.incidents == []  # counted enough, but not firing 5m yet
    sim.advance(at(8))
    (incident,) = sim.incidents
    assert incident.opened_at == at(8)
    assert timeline(sim, 1)[0] == (
        "opened",
        "rule sustained: threshold 2 of 2 within 10m; firing for 5m (for 5m)",
    )


# -- flapping -----------------------------------------------------------------------------------


def flap(sim, host: str, times: int, every: float = 5, start: float = 0) -> None:  # type: ignore[no-untyped-def]
    t = start
    for _ in range(times):
        sim.feed(alert("Ping", host, start=t))
        sim.feed(alert("Ping", host, status="resolved", start=t, end=t + 2))
        t += every


def test_a_flapping_alert_keeps_one_incident_open_instead_of_resolving_and_reopening() -> None:
    sim = simulator(RULES)
    flap(sim, "r1", times=6)  # fires at 0, 5, ... 25 and resolves 2 minutes later each time
    (incident,) = sim.incidents
    assert incident.status == "open"
    assert incident.flapping
    assert incident.reopen_count == 0
    kinds = [kind for kind, _ in timeline(sim, 1)]
    assert "resolved" not in kinds
    assert ("flapping_started", "flapping: 4 changes in 30m") in timeline(sim, 1)


def test_flapping_ends_below_the_lower_bound_and_the_quiet_incident_then_resolves() -> None:
    sim = simulator(RULES)
    flap(sim, "r1", times=6)  # last change at 27m
    sim.advance(at(100))
    (incident,) = sim.incidents
    assert not incident.flapping
    assert incident.status == "resolved"
    ended = [(at_, text) for at_, kind, text in incident.timeline if kind == "flapping_ended"]
    # changes at 20, 22, 25, 27 leave the 30m window one by one; below 2 once only 27 is left
    assert ended == [(at(55), "no longer flapping: 1 changes in 30m")]
    assert incident.resolved_at == at(55)


def test_flapping_that_started_before_the_incident_is_said_when_it_opens() -> None:
    rules = RULES.replace(
        "flapping: {changes: 4, within: 30m, below: 2}",
        "flapping: {changes: 2, within: 30m}\n    threshold: {count: 2, within: 30m}",
    )
    sim = simulator(rules)
    flap(sim, "r1", times=2)
    kinds = [kind for kind, _ in timeline(sim, 1)]
    assert kinds[:2] == ["opened", "flapping_started"]


# -- inhibition ---------------------------------------------------------------------------------


def test_an_inhibited_alert_is_recorded_with_the_source_incident_and_released_after() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01", severity="critical"))
    cpu = sim.feed(alert("HighCPU", "db-01", start=1))
    assert cpu.outcome is Outcome.INHIBITED
    assert cpu.reason == "inhibited by HostDown on db-01 (incident 1)"
    assert sim.incidents[0].related == {"alertmanager:HighCPU@db-01"}
    assert len(sim.incidents) == 1
    other_host = sim.feed(alert("HighCPU", "db-02", start=1))
    assert other_host.outcome is Outcome.OPENED  # `equal: [host]`: only the same host is inhibited
    sim.feed(alert("HostDown", "db-01", status="resolved", end=10, severity="critical"))
    cpu_state = sim.alerts["alertmanager:HighCPU@db-01"]
    assert cpu_state.disposition is Disposition.INCIDENT  # still firing once the cause is gone: it counts
    assert [i.title for i in sim.incidents] == ["HostDown on db-01", "HighCPU on db-02", "HighCPU on db-01"]


def test_an_alert_inhibited_and_resolved_meanwhile_never_opens_anything() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01", severity="critical"))
    sim.feed(alert("HighCPU", "db-01", start=1))
    sim.feed(alert("HighCPU", "db-01", status="resolved", start=1, end=4))
    sim.feed(alert("HostDown", "db-01", status="resolved", end=10, severity="critical"))
    sim.advance(at(60))
    assert len(sim.incidents) == 1
    state = sim.alerts["alertmanager:HighCPU@db-01"]
    assert state.disposition is Disposition.INHIBITED
    assert state.reason.endswith("; resolved")


def test_an_alert_resolved_in_the_delivery_that_resolves_its_inhibitor_stays_held() -> None:
    """One notification resolving a host's HostDown, then the alert it held back: one moment,
    so the recovery releases nothing that the same notification resolves (`delivering`); an
    alert the notification leaves firing is released as ever."""
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01", severity="critical"))
    sim.feed(alert("HighCPU", "db-01", start=1))
    sim.feed(alert("DiskFull", "db-01", start=1))
    recovery = [
        alert("HostDown", "db-01", status="resolved", end=10, severity="critical"),
        alert("HighCPU", "db-01", status="resolved", start=1, end=10),
    ]
    with sim.delivering(recovery):
        down, cpu = (sim.feed(event) for event in recovery)
    assert down.releases == ("inhibit:alertmanager:HostDown@db-01",)
    cpu_state = sim.alerts["alertmanager:HighCPU@db-01"]
    assert (cpu_state.disposition, cpu_state.reason) == (Disposition.INHIBITED, cpu.reason)
    assert cpu.reason.endswith("; resolved")
    disk = sim.alerts["alertmanager:DiskFull@db-01"]
    assert disk.disposition is Disposition.INCIDENT  # still firing: released
    assert [i.title for i in sim.incidents] == ["HostDown on db-01", "DiskFull on db-01"]
    assert sim.resolving == set()


def test_critical_alerts_are_not_inhibited_when_the_rule_excludes_them() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01", severity="critical"))
    decision = sim.feed(alert("DiskFailed", "db-01", severity="critical"))
    assert decision.outcome is Outcome.OPENED


# -- maintenance and silences -------------------------------------------------------------------


def test_an_alert_in_maintenance_is_suppressed_and_decided_again_when_the_window_ends() -> None:
    sim = simulator(RULES)
    decision = sim.feed(alert("HighCPU", "db-03", start=5))
    assert decision.outcome is Outcome.SUPPRESSED
    assert decision.reason == "in maintenance db-nightly until 2026-11-22 11:00:00 UTC"
    sim.advance(at(59))
    assert sim.incidents == []
    sim.advance(at(60))
    (incident,) = sim.incidents
    assert incident.opened_at == at(60)


def test_an_alert_that_resolves_during_maintenance_opens_nothing() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", "db-03", start=5))
    sim.feed(alert("HighCPU", "db-03", status="resolved", start=5, end=30))
    sim.advance(at(24 * 60))
    assert sim.incidents == []
    assert sim.alerts["alertmanager:HighCPU@db-03"].status is Status.RESOLVED


def test_maintenance_does_not_touch_other_hosts_or_other_times() -> None:
    sim = simulator(RULES)
    assert sim.feed(alert("HighCPU", "db-04", start=5)).outcome is Outcome.OPENED
    assert sim.feed(alert("HighCPU", "db-03", start=61)).outcome is Outcome.OPENED


def test_a_silence_holds_matching_alerts_until_it_ends() -> None:
    silence = Silence(
        id=7,
        matchers=(parse_matcher("host", "=~web-.*"),),
        starts_at=at(0),
        ends_at=at(30),
        author="ivanov",
        comment="kernel upgrade",
    )
    sim = simulator(RULES)
    sim.silences = (silence,)
    decision = sim.feed(alert("HighCPU", "web-01", start=1))
    assert decision.outcome is Outcome.SUPPRESSED
    assert decision.reason == "silenced by ivanov until 2026-11-22 10:30:00 UTC: kernel upgrade"
    assert sim.feed(alert("HighCPU", "db-01", start=1)).outcome is Outcome.OPENED
    assert sim.feed(alert("HighCPU", "web-02", start=31)).outcome is Outcome.OPENED  # after its end


# -- heartbeats ---------------------------------------------------------------------------------


def test_a_heartbeat_that_stops_opens_an_incident_and_its_return_resolves_it() -> None:
    sim = simulator(RULES)
    for minute in range(0, 20):
        decision = sim.feed(alert("Watchdog", "am", start=0, received=minute))
    assert decision.outcome is Outcome.HEARTBEAT
    assert sim.incidents == []
    sim.advance(at(23.9))
    assert sim.incidents == []
    sim.advance(at(24))
    (incident,) = sim.incidents
    assert incident.title == "Heartbeat lost: Watchdog on am"
    assert timeline(sim, 1)[0] == (
        "opened",
        "rule watchdog: no Watchdog on am since 2026-11-22 10:19:00 UTC (expected every 5m)",
    )
    sim.feed(alert("Watchdog", "am", start=0, received=40))
    assert incident.status == "resolved"


def test_a_heartbeat_never_seen_is_not_reported_lost() -> None:
    sim = simulator(RULES)
    sim.advance(at(600))
    assert sim.incidents == []


# -- continue, routing and clients --------------------------------------------------------------


def test_continue_lets_a_later_rule_decide_while_earlier_ones_add_client_and_route() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01", severity="critical", labels={"customer": "acme"}))
    (incident,) = sim.incidents
    assert incident.rule == "acme+host-down"
    assert incident.client == "acme"
    assert incident.route == "acme-team"  # the earlier rule's explicit key wins
    assert incident.priority is Priority.P1  # host-down's own


def test_the_client_comes_from_a_zabbix_host_group() -> None:

    sim = simulator(RULES)
    sim.feed(
        alert(
            "HostDown",
            "srv-9",
            severity="critical",
            source=Source.ZABBIX,
            labels={"host_groups": "Linux servers, Clients/Globex"},
        )
    )
    assert sim.incidents[0].client == "Globex"
    assert sim.incidents[0].route == "infra"


def test_rules_without_route_or_client_leave_them_empty() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", "web-01"))
    assert (sim.incidents[0].route, sim.incidents[0].client) == (None, None)


def test_resolve_after_is_counted_from_the_last_resolution() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HighCPU", "web-01"))
    sim.feed(alert("HighCPU", "web-01", status="resolved", end=10))
    sim.advance(at(10) + timedelta(minutes=4, seconds=59))
    assert sim.incidents[0].status == "open"
    sim.advance(at(15))
    assert sim.incidents[0].status == "resolved"

"""An incident a timer opens (a `for:` hold expiring, a threshold and hold met by time, a release
after maintenance, `open_when: any` by time, a lost heartbeat) has the client its rule's `client:`
gives, as one opened at once by the same alert does: viewers, reports and routing depend on it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dedup.state import EngineTimer
from tests.support.alerts import alert, at, simulator

CLIENT = {"customer": "logistics"}


def rules(gate: str, extra: str = "") -> str:
    return f"""
defaults: {{resolve_after: 5m, reopen_within: 0s}}
rules:
  - name: disk
    match: {{name: DiskFull}}
    client: {{label: customer}}
{gate}
{extra}"""


def test_a_hold_expiring_opens_the_incident_with_the_alerts_client() -> None:
    sim = simulator(rules("    for: 10m"))
    sim.feed(alert("DiskFull", "db-01", start=0, labels=CLIENT))
    sim.advance(at(9))
    assert sim.incidents == []
    sim.advance(at(10))
    assert [(i.opened_at, i.client) for i in sim.incidents] == [(at(10), "logistics")]


def test_a_threshold_then_hold_met_by_time_carries_the_client() -> None:
    sim = simulator(rules("    threshold: {count: 2, within: 30m}\n    for: 10m"))
    sim.feed(alert("DiskFull", "db-01", start=0, labels=CLIENT))
    sim.feed(alert("DiskFull", "db-01", status="resolved", start=0, end=1, labels=CLIENT))
    sim.feed(alert("DiskFull", "db-01", start=2, labels=CLIENT))
    sim.advance(at(11))
    assert sim.incidents == []
    sim.advance(at(12))
    assert [(i.opened_at, i.client) for i in sim.incidents] == [(at(12), "logistics")]


def test_open_when_any_by_time_carries_the_client() -> None:
    gate = "    for: 10m\n    threshold: {count: 3, within: 15m}\n    open_when: any"
    sim = simulator(rules(gate))
    sim.feed(alert("DiskFull", "db-01", start=0, labels=CLIENT))
    sim.advance(at(10))
    assert [(i.opened_at, i.client) for i in sim.incidents] == [(at(10), "logistics")]


def test_an_alert_released_after_maintenance_and_held_opens_with_its_client() -> None:
    maintenance = """maintenance:
  - name: db-nightly
    match: {host: db-03}
    every: "sun 10:00-11:00"
    timezone: UTC
"""
    sim = simulator(rules("    for: 60m", maintenance))
    sim.feed(alert("DiskFull", "db-03", start=30, labels=CLIENT))
    sim.advance(at(60))  # the window ends: held by `for:` from now on, until 30m later
    assert sim.incidents == []
    sim.advance(at(90))
    assert [(i.opened_at, i.client) for i in sim.incidents] == [(at(90), "logistics")]


def test_the_client_is_that_of_the_alert_starting_the_stretch() -> None:
    sim = simulator(rules("    group_by: [name]\n    for: 10m"))
    sim.feed(alert("DiskFull", "db-01", start=0, labels=CLIENT))
    sim.feed(alert("DiskFull", "db-02", start=1, labels={"customer": "acme"}))
    sim.advance(at(10))
    assert [i.client for i in sim.incidents] == ["logistics"]
    # the stretch ends; the next one is started by acme's alert, and is acme's
    sim.feed(alert("DiskFull", "db-01", status="resolved", start=0, end=11, labels=CLIENT))
    sim.feed(alert("DiskFull", "db-02", status="resolved", start=1, end=11, labels={"customer": "acme"}))
    sim.advance(at(30))
    sim.feed(alert("DiskFull", "db-02", start=40, labels={"customer": "acme"}))
    sim.advance(at(50))
    assert [i.client for i in sim.incidents] == ["logistics", "acme"]


def test_a_group_state_remembers_its_client_for_the_timer() -> None:
    sim = simulator(rules("    for: 10m"))
    decision = sim.feed(alert("DiskFull", "db-01", start=0, labels=CLIENT))
    assert [g.client for g in decision.groups] == ["logistics"]
    group = decision.groups[0]
    opened = sim.engine.on_timer(EngineTimer.HOLD, group, at(10))
    assert [e.client for e in opened.effects if e.kind == "open"] == ["logistics"]


def test_a_lost_heartbeat_opens_with_the_heartbeats_client() -> None:
    heartbeat = """
defaults: {resolve_after: 5m}
rules:
  - name: watchdog
    kind: heartbeat
    match: {name: Watchdog}
    every: 5m
    client: {label: customer}
"""
    sim = simulator(heartbeat)
    sim.feed(alert("Watchdog", "prom-01", start=0, labels=CLIENT))
    sim.advance(at(6))
    assert [i.client for i in sim.incidents] == ["logistics"]


def test_a_host_that_waited_a_storms_grace_opens_with_its_client() -> None:
    storm = rules("", "storm: {hosts: 10, within: 2m}\n").replace(
        "match: {name: DiskFull}", "match: {name: DiskFull}\n    group_by: [host]"
    )
    sim = simulator(storm)
    sim.feed(alert("DiskFull", "db-01", start=0, labels={"customer": "acme"}))
    decision = sim.feed(alert("DiskFull", "web-17", start=0.5, labels=CLIENT))
    assert decision.reason.startswith("waiting: possible alert storm")
    sim.advance(at(2.5))
    assert [(i.title, i.opened_at, i.client) for i in sim.incidents] == [
        ("DiskFull on db-01", at(0), "acme"),
        ("DiskFull on web-17", at(2.5), "logistics"),
    ]


@settings(max_examples=60, deadline=None)
@given(
    customer=st.one_of(st.none(), st.text("abcxyz-", min_size=1, max_size=8)),
    hold=st.integers(min_value=1, max_value=120),
    start=st.integers(min_value=0, max_value=600),
    late=st.integers(min_value=0, max_value=30),
)
def test_the_client_is_the_same_whether_the_rule_opens_at_once_or_after_a_hold(
    customer: str | None, hold: int, start: int, late: int
) -> None:
    labels = {} if customer is None else {"customer": customer}
    clients = []
    for gate in ("", f"    for: {hold}m"):
        sim = simulator(rules(gate))
        sim.feed(alert("DiskFull", "db-01", start=start, received=start + late, labels=labels))
        sim.advance(at(start + late + hold + 1))
        assert len(sim.incidents) == 1
        clients.append(sim.incidents[0].client)
    assert clients == [customer, customer]

"""Storm correlation without a topology map: many distinct hosts starting to alert within a
short window become one storm incident holding them all; unrelated outages stay apart."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.alert import Status
from bridge.dedup.explain import explain
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.simulator import Simulator
from bridge.dedup.state import Disposition
from bridge.dedup.storm import KEPT_ENTRIES, STORM_KEY
from bridge.dedup.summary import describe_ruleset
from bridge.errors import RulesError
from tests.support.alerts import alert, at, simulator

RULES = """
defaults: {resolve_after: 5m, reopen_within: 1h, priority: P3}
storm: {hosts: 10, within: 2m}
rules:
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    priority: P1
    resolve_after: 2m
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
  - name: cpu
    match: {name: HighCPU}
    for: 5m
  - name: backups
    match: {name: BackupFailed}
    storm: false
"""


def behind_switch(host: int) -> dict[str, str]:
    return {"switch": "sw-core-1", "site": f"dc{host % 3}"}


def began(i: int, hosts: int, spread: float = 1.5) -> float:
    return spread * i / max(hosts - 1, 1)


def feed_storm(sim: Simulator, hosts: int, spread: float = 1.5) -> None:
    """`hosts` hosts go down within `spread` minutes, each with HostDown and a HighCPU."""
    for i in range(hosts):
        when = began(i, hosts, spread)
        sim.feed(alert("HostDown", f"app-{i:02d}", start=when, severity="critical", labels=behind_switch(i)))
        sim.feed(alert("HighCPU", f"app-{i:02d}", start=when, labels=behind_switch(i)))


def opened(sim: Simulator) -> list[str]:
    return [i.title for i in sim.incidents]


def test_a_48_alert_switch_storm_is_at_most_two_incidents_and_pages_once_for_the_storm() -> None:
    sim = simulator(RULES)
    for i in range(24):  # 24 hosts behind one switch, 48 alerts
        labels = behind_switch(i)
        sim.feed(alert("HostDown", f"app-{i:02d}", start=i * 0.05, severity="critical", labels=labels))
        sim.feed(alert("HighCPU", f"app-{i:02d}", start=i * 0.05, labels=labels))
    sim.advance(at(30))
    assert len(sim.incidents) <= 2
    storm = next(i for i in sim.incidents if i.group_key == STORM_KEY)
    assert storm.title == "Alert storm: 10 hosts within 2m, sharing switch=sw-core-1"
    assert storm.priority == "P1"
    attached = {f for i in sim.incidents for f in i.alerts}
    assert {f"alertmanager:HostDown@app-{i:02d}" for i in range(24)} <= attached
    # every alert is attached, or held back by its host's HostDown (inhibition as always)
    assert len(sim.alerts) == 48
    assert all(s.disposition in (Disposition.INCIDENT, Disposition.INHIBITED) for s in sim.alerts.values())
    assert len(storm.alerts) >= 23


def test_the_storm_resolves_when_all_its_alerts_have() -> None:
    sim = simulator(RULES)
    feed_storm(sim, 12)
    storm = next(i for i in sim.incidents if i.group_key == STORM_KEY)
    for i in range(12):
        for name in ("HighCPU", "HostDown"):
            start = began(i, 12)
            sim.feed(alert(name, f"app-{i:02d}", status="resolved", start=start, end=10 + i, received=10 + i))
        if i < 11:
            sim.advance(at(10.5 + i))
            assert storm.active, i
    sim.advance(at(30))
    assert storm.status == "resolved"
    assert storm.resolved_at == at(21 + 2)  # the last one resolved at 21, resolve_after 2m


def test_two_unrelated_outages_in_the_same_minute_open_two_incidents() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01", start=0, severity="critical", labels={"site": "msk"}))
    sim.feed(alert("HostDown", "web-17", start=0.5, severity="critical", labels={"site": "spb"}))
    sim.advance(at(10))
    assert sorted(opened(sim)) == ["HostDown on db-01", "HostDown on web-17"]
    second = next(i for i in sim.incidents if i.title.endswith("web-17"))
    # the second waited the storm's grace (2m) in case it was the start of a storm
    assert second.opened_at == at(2.5)


def test_a_second_host_waits_the_grace_and_says_why() -> None:
    sim = simulator(RULES)
    sim.feed(alert("HostDown", "db-01", start=0, severity="critical"))
    decision = sim.feed(alert("HostDown", "web-17", start=0.5, severity="critical"))
    assert decision.reason.startswith("waiting: possible alert storm (2 hosts alerting within 2m): opens at")


def test_a_rule_that_opts_out_is_neither_counted_nor_taken() -> None:
    sim = simulator(RULES)
    for i in range(12):
        sim.feed(alert("BackupFailed", f"app-{i:02d}", start=i * 0.1, severity="high"))
    sim.advance(at(10))
    assert len(sim.incidents) == 12
    assert all(i.group_key != STORM_KEY for i in sim.incidents)


def test_storm_members_that_are_parents_still_inhibit_their_hosts_alerts() -> None:
    sim = simulator(RULES)
    feed_storm(sim, 12)
    sim.feed(alert("DiskSlow", "app-05", start=2, severity="warning"))
    state = sim.alerts["alertmanager:DiskSlow@app-05"]
    assert state.disposition is Disposition.INHIBITED
    storm = next(i for i in sim.incidents if i.group_key == STORM_KEY)
    assert state.reason == f"inhibited by HostDown on app-05 (incident {storm.number})"


def test_a_lone_alert_long_after_the_storm_opens_its_own_incident() -> None:
    sim = simulator(RULES)
    feed_storm(sim, 12)
    sim.feed(alert("HostDown", "mail-01", start=30, severity="critical", labels={"site": "x"}))
    sim.advance(at(40))
    assert "HostDown on mail-01" in opened(sim)


def test_storm_settings_are_validated_with_file_and_line() -> None:
    with pytest.raises(RulesError) as raised:
        load_rules_texts({"a.yaml": "storm: {hosts: 1, within: soon}\nrules: []\n"})
    text = str(raised.value)
    assert "a.yaml:1: storm hosts must be a whole number >= 2" in text
    assert "a.yaml:1: 'soon' is not a duration" in text
    with pytest.raises(RulesError) as raised:
        load_rules_texts(
            {
                "a.yaml": "storm: {hosts: 5, within: 1m}\n",
                "b.yaml": "storm:\n  hosts: 3\n  within: 1m\nrules: []\n",
            }
        )
    assert "b.yaml:1: storm is already set in a.yaml:1" in str(raised.value)
    assert load_rules_texts({"a.yaml": "storm: off\nrules: []\n"}).storm is None


def test_the_watch_stays_bounded_in_a_huge_storm() -> None:
    sim = simulator(RULES)
    for i in range(KEPT_ENTRIES + 300):
        sim.feed(alert("HostDown", f"h-{i}", start=i * 0.001, severity="critical"))
    assert len(sim.groups[STORM_KEY].storm) == KEPT_ENTRIES
    assert len(sim.incidents) <= 2


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.integers(10, 60), st.floats(0, 1.9), st.booleans())
def test_n_hosts_within_the_window_are_one_incident(hosts: int, spread: float, shared: bool) -> None:
    sim = simulator(RULES)
    for i in range(hosts):
        labels = behind_switch(i) if shared else {"rack": f"r{i}"}
        when = spread * i / (hosts - 1)
        sim.feed(alert("HostDown", f"h-{i:02d}", start=when, severity="critical", labels=labels))
    sim.advance(at(20))
    assert len(sim.incidents) <= 2  # the storm, and at most the first host before anything looked like one
    assert sum(1 for i in sim.incidents if i.group_key == STORM_KEY) == 1
    assert sum(len(i.alerts) for i in sim.incidents) == hosts


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 9), st.lists(st.floats(0, 1.9), min_size=9, max_size=9))
def test_fewer_hosts_than_a_storm_open_one_incident_each(outages: int, starts: list[float]) -> None:
    sim = simulator(RULES)
    for i in range(outages):
        sim.feed(alert("HostDown", f"h-{i:02d}", start=starts[i], received=starts[i], severity="critical"))
    sim.advance(at(20))
    assert len(sim.incidents) == outages
    assert all(i.group_key != STORM_KEY for i in sim.incidents)


@settings(max_examples=40, deadline=None)
@given(st.integers(10, 30), st.lists(st.floats(3, 60), min_size=30, max_size=30))
def test_a_storm_that_ends_resolves_its_incident(hosts: int, ends: list[float]) -> None:
    sim = simulator(RULES)
    feed_storm(sim, hosts)
    order = sorted((ends[i], i) for i in range(hosts))
    for end, i in order:
        for name in ("HighCPU", "HostDown"):
            start = began(i, hosts)
            sim.feed(alert(name, f"app-{i:02d}", status="resolved", start=start, end=end, received=end))
    sim.advance(at(200))
    assert all(i.status == "resolved" for i in sim.incidents)
    storm = next(i for i in sim.incidents if i.group_key == STORM_KEY)
    last = max(end for end, i in order if f"alertmanager:HostDown@app-{i:02d}" in storm.alerts)
    assert storm.resolved_at == at(last + 2)  # quiet for the rule's resolve_after
    assert all(s.status is Status.RESOLVED for s in sim.alerts.values())


@settings(max_examples=40, deadline=None)
@given(st.integers(10, 30), st.floats(0, 1.9), st.integers(0, 2**32 - 1))
def test_the_same_storm_replayed_gives_the_same_incidents(hosts: int, spread: float, seed: int) -> None:
    def run() -> list[tuple[object, ...]]:
        sim = simulator(RULES)
        feed_storm(sim, hosts, spread)
        sim.advance(at(60))
        return [(i.title, i.opened_at, sorted(i.alerts), i.timeline) for i in sim.incidents]

    assert run() == run()


def test_explain_and_check_say_who_takes_part_in_storms() -> None:
    rules = load_rules_texts({"r.yaml": RULES})
    assert (
        "  storms: counted with other hosts; 10 hosts alerting within 2m are one storm incident"
        in explain(rules, alert("HostDown", "db-01", severity="critical"), at(0))
    )
    assert "  storms: kept out of storm correlation (storm: false)" in explain(
        rules, alert("BackupFailed", "db-01"), at(0)
    )
    assert describe_ruleset(rules, "rules")[-1] == (
        "  storm: 10 hosts within 2m are one incident (grace 2m); not for backups"
    )

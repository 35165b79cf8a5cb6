"""Properties of the engine over generated alert histories (hypothesis)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.alert import Alert, Source, Status
from bridge.dedup.simulator import Simulator
from bridge.dedup.state import Disposition
from tests.support.alerts import alert, at, simulator

RULES = """
defaults:
  resolve_after: 5m
  reopen_within: 30m
rules:
  - name: held
    match: {name: Held}
    for: 10m
  - name: counted
    match: {name: Counted}
    threshold: {count: 3, within: 20m}
  - name: grouped
    match: {name: Grouped}
    group_by: [name]
"""
NAMES = ("Held", "Counted", "Grouped", "Plain")
HOSTS = ("a", "b")

# Every kind of rule, for recoveries of alerts bridge never saw fire: RULES plus the rest.
EVERY_KIND = (
    RULES
    + """
  - name: once
    match: {name: Once}
    threshold: {count: 1, within: 20m}
  - name: flappy
    match: {name: Flappy}
    flapping: {changes: 2, within: 30m, below: 1}
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    inhibits: {equal: [host]}
  - name: pods
    match: {name: Pod}
    dedup_by: [name]
  - name: watchdog
    kind: heartbeat
    match: {name: Watchdog}
    every: 5m
  - name: drop-info
    match: {severity: info}
    action: drop
maintenance:
  - name: nightly
    match: {host: c}
    every: "sun 10:00-11:00"
"""
)
OTHER_NAMES = ("Once", "Flappy", "HostDown", "Pod", "Watchdog", "Chatter")


@dataclass(frozen=True)
class Occurrence:
    name: str
    host: str
    start: int  # minutes
    length: int | None  # None: still firing
    repeats: int  # extra firing notifications while it fires


@st.composite
def histories(draw: st.DrawFn) -> list[Alert]:
    """Events of a few alerts, each a series of non-overlapping occurrences, in arrival order."""
    events: list[Alert] = []
    for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True)):
        for host in draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=2, unique=True)):
            clock = draw(st.integers(0, 30))
            for _ in range(draw(st.integers(1, 4))):
                length = draw(st.one_of(st.none(), st.integers(1, 40)))
                occurrence = Occurrence(name, host, clock, length, draw(st.integers(0, 2)))
                events += _events(occurrence, draw(st.integers(0, 3)))
                if length is None:
                    break
                clock += length + draw(st.integers(1, 60))
    events.sort(key=lambda e: (e.received_at, e.status is Status.RESOLVED))
    return events


def _events(o: Occurrence, delay: int) -> list[Alert]:
    events = [alert(o.name, o.host, start=o.start, received=o.start + delay)]
    events += [
        alert(o.name, o.host, start=o.start, received=o.start + delay + 1 + r) for r in range(o.repeats)
    ]
    if o.length is not None:
        end = o.start + o.length
        events.append(alert(o.name, o.host, status="resolved", start=o.start, end=end, received=end + delay))
    return events


def run(events: list[Alert], rules: str = RULES) -> Simulator:
    sim = simulator(rules)
    for event in events:
        sim.feed(event)
    sim.advance(at(24 * 60))
    return sim


def outcome(sim: Simulator) -> tuple[object, ...]:
    """What people would see: incidents with their alerts, plus every alert's standing."""
    incidents = [
        (
            i.number,
            i.group_key,
            i.status,
            i.priority,
            sorted(i.alerts),
            i.occurrences,
            i.reopen_count,
            i.opened_at,
        )
        for i in sim.incidents
    ]
    alerts = sorted(
        (s.fingerprint, s.status, s.starts_at, s.disposition, s.incident) for s in sim.alerts.values()
    )
    return incidents, alerts


@settings(max_examples=200, deadline=None)
@given(histories())
def test_the_same_event_twice_is_the_same_state(events: list[Alert]) -> None:
    doubled = [e for event in events for e in (event, event)]
    assert outcome(run(doubled)) == outcome(run(events))


@settings(max_examples=200, deadline=None)
@given(histories(), st.data())
def test_late_redeliveries_do_not_matter(events: list[Alert], data: st.DataObject) -> None:
    """Alertmanager retries and HA peers resend earlier notifications later: no effect."""
    noisy = list(events)
    for _ in range(data.draw(st.integers(1, 5))):
        original = data.draw(st.integers(0, len(events) - 1))
        position = data.draw(st.integers(noisy.index(events[original]) + 1, len(noisy)))
        noisy.insert(position, events[original])
    assert outcome(run(noisy)) == outcome(run(events))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 30), st.integers(1, 20), st.integers(1, 30), st.integers(0, 60))
def test_an_older_resolution_never_rolls_back_a_newer_firing(
    start: int, length: int, gap: int, late: int
) -> None:
    sim = simulator(RULES)
    end = start + length
    sim.feed(alert("Plain", start=start))
    sim.feed(alert("Plain", start=end + gap))  # fired again (its resolution was lost)
    sim.feed(alert("Plain", status="resolved", start=start, end=end, received=end + gap + late))
    state = sim.alerts["alertmanager:Plain@web-01"]
    assert (state.status, state.starts_at) == (Status.FIRING, at(end + gap))


def _host(group_key: str) -> str:
    return group_key.rsplit("host=", 1)[1].split(",", maxsplit=1)[0]


@settings(max_examples=300, deadline=None)
@given(histories())
def test_threshold_never_opens_before_k_occurrences_within_the_window(events: list[Alert]) -> None:
    sim = run(events)
    for incident in sim.incidents:
        if incident.rule != "counted":
            continue
        opened = [when for when, kind, _ in incident.timeline if kind in ("opened", "reopened")]
        for moment in opened:
            starts = sorted(
                {
                    e.starts_at
                    for e in events
                    if e.name == "Counted" and e.host == _host(incident.group_key) and e.received_at <= moment
                }
            )
            spans = [starts[i + 2] - starts[i] for i in range(len(starts) - 2)]
            assert any(span <= timedelta(minutes=20) for span in spans), (moment, starts)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_for_never_opens_before_the_alert_kept_firing_for_the_hold_time(events: list[Alert]) -> None:
    """Judged on what bridge knew when it opened: a resolution still on its way cannot count."""
    sim = run(events)
    hold = timedelta(minutes=10)
    for incident in sim.incidents:
        if incident.rule != "held":
            continue
        mine = [e for e in events if e.name == "Held" and e.host == _host(incident.group_key)]
        for moment in [when for when, kind, _ in incident.timeline if kind in ("opened", "reopened")]:
            ends = {
                e.starts_at: e.ends_at
                for e in mine
                if e.status is Status.RESOLVED and e.received_at <= moment
            }
            held_long_enough = [
                start
                for start in {e.starts_at for e in mine if e.received_at <= moment}
                if start + hold <= moment and (ends.get(start) is None or ends[start] - start >= hold)
            ]
            assert held_long_enough, (moment, sorted(ends.items()))


@settings(max_examples=100, deadline=None)
@given(histories())
def test_at_most_one_active_incident_per_group(events: list[Alert]) -> None:
    sim = simulator(RULES)
    for event in events:
        sim.feed(event)
        active = [i.group_key for i in sim.incidents if i.active]
        assert len(active) == len(set(active))


@settings(max_examples=100, deadline=None)
@given(histories())
def test_nothing_firing_means_every_incident_resolves(events: list[Alert]) -> None:
    resolved_only = [e for e in events if not _still_firing_at_end(e, events)]
    sim = run(resolved_only)
    for incident in sim.incidents:
        assert incident.status == "resolved", incident


def _still_firing_at_end(event: Alert, events: list[Alert]) -> bool:
    """Drop occurrences that never resolve, so that everything goes quiet by the end."""
    return not any(
        e.fingerprint == event.fingerprint and e.starts_at == event.starts_at and e.status is Status.RESOLVED
        for e in events
    )


@st.composite
def recoveries(draw: st.DrawFn) -> list[Alert]:
    """Resolved events of alerts bridge never sees fire (Alertmanager or Zabbix), none of them an
    alert `histories()` makes: a name of NAMES only on hosts c and d."""
    events = []
    for n in range(draw(st.integers(1, 8))):
        name = draw(st.sampled_from(NAMES + OTHER_NAMES))
        host = draw(st.sampled_from(("c", "d") if name in NAMES else ("a", "b", "c")))
        severity = "info" if name == "Chatter" else "warning"
        zabbix = draw(st.booleans())
        start = draw(st.integers(0, 400))
        for repeat in range(draw(st.integers(1, 3))):  # the same occurrence, or later ones
            start += repeat * draw(st.integers(0, 30))
            end = start + draw(st.integers(1, 40))
            events.append(
                alert(
                    name,
                    host,
                    status="resolved",
                    start=start,
                    end=end,
                    received=end + draw(st.integers(0, 3)),
                    severity=severity,
                    source=Source.ZABBIX if zabbix else Source.ALERTMANAGER,
                    fingerprint=f"zabbix:z:{n}-{repeat}" if zabbix else None,
                )
            )
    return events


@settings(max_examples=200, deadline=None)
@given(recoveries())
def test_an_alert_whose_every_event_is_resolved_never_opens_an_incident(events: list[Alert]) -> None:
    events.sort(key=lambda e: e.received_at)
    sim = run(events, EVERY_KIND)
    assert sim.incidents == []
    assert {s.disposition for s in sim.alerts.values()} <= {
        Disposition.CLEARED,
        Disposition.DROPPED,
        Disposition.HEARTBEAT,
    }
    assert all(s.status is Status.RESOLVED for s in sim.alerts.values())


@settings(max_examples=200, deadline=None)
@given(histories(), recoveries())
def test_recoveries_never_seen_firing_change_no_incident(events: list[Alert], extra: list[Alert]) -> None:
    """Mixed into a history, in its groups (`grouped` is one group per name) and on its hosts
    (inhibition, maintenance), they leave every incident as it would have been without them."""
    mixed = sorted([*events, *extra], key=lambda e: (e.received_at, e.status is Status.RESOLVED))
    with_them, without = run(mixed, EVERY_KIND), run(events, EVERY_KIND)
    assert outcome(with_them)[0] == outcome(without)[0]
    assert [i.timeline for i in with_them.incidents] == [i.timeline for i in without.incidents]

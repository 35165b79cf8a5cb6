"""Properties of the rules language over generated histories (hypothesis): thresholds with holds
never open early and never miss a sustained outage, flapping never makes more than one incident
per episode, maintenance windows are right across DST changes, inhibition never loses an alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.alert import Alert, Status
from bridge.dedup.simulator import SimIncident, Simulator
from bridge.dedup.state import Disposition
from tests.support.alerts import alert, at, simulator


def episodes(incident: SimIncident) -> list[tuple[datetime, datetime | None]]:
    """When the incident was active (open), from its timeline: [opened or reopened, resolved)."""
    spans: list[tuple[datetime, datetime | None]] = []
    start: datetime | None = None
    for when, kind, _ in incident.timeline:
        if kind in ("opened", "reopened") and start is None:
            start = when
        elif kind == "resolved" and start is not None:
            spans.append((start, when))
            start = None
    if start is not None:
        spans.append((start, None))
    return spans


def active_at(sim: Simulator, moment: datetime) -> bool:
    return any(
        begin <= moment and (end is None or moment < end)
        for incident in sim.incidents
        for begin, end in episodes(incident)
    )


# -- threshold with for ---------------------------------------------------------------------------


@st.composite
def occurrences(draw: st.DrawFn) -> list[tuple[int, int | None]]:
    """(start, length or None for still firing) of one alert's occurrences, minutes, in order."""
    result: list[tuple[int, int | None]] = []
    clock = draw(st.integers(0, 10))
    for _ in range(draw(st.integers(1, 8))):
        length = draw(st.one_of(st.none(), st.integers(1, 30)))
        result.append((clock, length))
        if length is None:
            break
        clock += length + draw(st.integers(1, 25))
    return result


def feed_occurrences(sim: Simulator, name: str, history: list[tuple[int, int | None]]) -> None:
    for start, length in history:
        sim.feed(alert(name, "h", start=start))
        if length is not None:
            sim.advance(at(start + length))
            sim.feed(alert(name, "h", status="resolved", start=start, end=start + length))
    sim.advance(at(history[-1][0] + 24 * 60))


@settings(max_examples=300, deadline=None)
@given(occurrences(), st.integers(1, 4), st.integers(1, 30), st.integers(0, 15))
@example(history=[(0, 1), (2, 1), (9, None)], count=2, within=7, hold=1)  # found by hypothesis
def test_threshold_with_for_never_opens_early_and_never_misses_a_sustained_outage(
    history: list[tuple[int, int | None]], count: int, within: int, hold: int
) -> None:
    rules = f"""
defaults: {{resolve_after: 5m, reopen_within: 0s}}
rules:
  - name: gated
    match: {{name: Gated}}
    threshold: {{count: {count}, within: {within}m}}
    {f"for: {hold}m" if hold else ""}
"""
    sim = simulator(rules)
    feed_occurrences(sim, "Gated", history)
    starts = [start for start, _ in history]
    opened = sorted(begin for incident in sim.incidents for begin, _ in episodes(incident))
    for moment in opened:
        # never early: K occurrences within the window had started, and one kept firing `hold`
        before = [s for s in starts if s <= (moment - at(0)).total_seconds() / 60]
        assert any(before[i + count - 1] - before[i] <= within for i in range(len(before) - count + 1))
        assert any(
            at(s) + timedelta(minutes=hold) <= moment and (length is None or s + length >= s + hold)
            for s, length in history
            if at(s) <= moment
        )
    # never missed: the first time K occurrences fit in the window and the last of them keeps
    # firing for the hold, an incident is open by the end of the hold. One that resolves at the
    # very moment its hold ends has fired for the hold: the clock reaches that moment (and the
    # hold's timer fires) before the resolution is fed, as "never early" above allows.
    for i in range(count - 1, len(history)):
        start, length = history[i]
        if start - history[i - count + 1][0] <= within and (length is None or length >= hold):
            assert active_at(sim, at(start + hold)), (i, sim.incidents)
            break


# -- flapping -------------------------------------------------------------------------------------


@st.composite
def flaps(draw: st.DrawFn) -> list[tuple[float, float]]:
    """Fire/resolve pairs of one alert (start, length), with gaps: sometimes bursty, sometimes calm."""
    result = []
    clock = 0.0
    for _ in range(draw(st.integers(1, 25))):
        length = draw(st.sampled_from([0.5, 1, 2, 5, 20]))
        result.append((clock, length))
        clock += length + draw(st.sampled_from([0.5, 1, 3, 10, 45, 120]))
    return result


@settings(max_examples=300, deadline=None)
@given(flaps(), st.integers(2, 8), st.integers(5, 60))
def test_a_flapping_alert_never_resolves_or_reopens_during_an_episode(
    history: list[tuple[float, float]], changes: int, within: int
) -> None:
    rules = f"""
defaults: {{resolve_after: 2m, reopen_within: 1h}}
rules:
  - name: ping
    match: {{name: Ping}}
    flapping: {{changes: {changes}, within: {within}m}}
"""
    sim = simulator(rules)
    for start, length in history:
        sim.feed(alert("Ping", "r1", start=start))
        sim.feed(alert("Ping", "r1", status="resolved", start=start, end=start + length))
    sim.advance(at(history[-1][0] + 48 * 60))
    # one group, so one incident at a time; one that never resolves while flapping is the one
    # incident of the episode (a new one can only open after it resolved, i.e. after the episode)
    for incident in sim.incidents:
        flapping = False
        for _, kind, _ in incident.timeline:
            if kind == "flapping_started":
                assert not flapping
                flapping = True
            elif kind == "flapping_ended":
                assert flapping
                flapping = False
            elif kind in ("resolved", "reopened"):
                assert not flapping, incident.timeline
        assert not flapping  # 48h of quiet ends every episode
        assert incident.status == "resolved"


# -- maintenance across DST -----------------------------------------------------------------------

ZONES = ("Europe/Moscow", "Europe/Berlin", "America/New_York")
# Sundays with a DST change in Berlin (Mar 29, Oct 25) or New York (Mar 8, Nov 1) in 2026, and one without
SUNDAYS = (
    datetime(2026, 3, 8),
    datetime(2026, 3, 29),
    datetime(2026, 10, 25),
    datetime(2026, 11, 1),
    datetime(2026, 11, 22),
)


def in_window(instant: datetime, zone: ZoneInfo) -> bool:
    """The oracle, written independently of the engine: Sunday 01:00-05:00 on the local clock."""
    local = instant.astimezone(zone)
    return local.weekday() == 6 and time(1, 0) <= local.time() < time(5, 0)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(SUNDAYS), st.integers(-180, 9 * 60), st.integers(1, 8 * 60))
def test_maintenance_windows_hold_exactly_their_local_hours_across_dst(
    zone_name: str, sunday: datetime, offset: int, length: int
) -> None:
    zone = ZoneInfo(zone_name)
    rules = f"""
maintenance:
  - name: sunday-night
    match: {{host: db-03}}
    every: "sun 01:00-05:00"
    timezone: {zone_name}
"""
    midnight = sunday.replace(tzinfo=zone).astimezone(UTC)
    start = midnight + timedelta(minutes=offset)
    sim = simulator(rules)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    minutes = (start - first).total_seconds() / 60

    def event(**kwargs: object) -> Alert:
        made = alert("HighCPU", "db-03", **kwargs)  # type: ignore[arg-type]
        shift = first - at(0)
        return replace(
            made,
            starts_at=made.starts_at + shift,
            ends_at=made.ends_at + shift if made.ends_at else None,
            received_at=made.received_at + shift,
        )

    decision = sim.feed(event(start=minutes))
    inside = in_window(start, zone)
    assert (decision.alert is not None and decision.alert.disposition is Disposition.SUPPRESSED) == inside
    end = start + timedelta(minutes=length)
    sim.advance(end - timedelta(microseconds=1))
    window_end = sunday.replace(hour=5, tzinfo=zone).astimezone(UTC)
    if inside and end <= window_end:
        assert sim.incidents == []  # resolved within the window: nothing to wake anyone for
    elif inside:
        (incident,) = sim.incidents
        assert incident.opened_at == window_end
    else:
        (incident,) = sim.incidents
        assert incident.opened_at == start


# -- inhibition -----------------------------------------------------------------------------------

INHIBIT_RULES = """
defaults: {resolve_after: 5m, reopen_within: 1h}
rules:
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    inhibits: {match: {name: "!=HostDown"}, equal: [host]}
"""


@st.composite
def outage_histories(draw: st.DrawFn) -> list[Alert]:
    events: list[Alert] = []
    for name in ("HostDown", "HighCPU", "DiskSlow"):
        for host in ("a", "b"):
            clock = draw(st.integers(0, 30))
            for _ in range(draw(st.integers(0, 3))):
                length = draw(st.one_of(st.none(), st.integers(1, 40)))
                events.append(alert(name, host, start=clock))
                if length is None:
                    break
                events.append(alert(name, host, status="resolved", start=clock, end=clock + length))
                clock += length + draw(st.integers(1, 30))
    events.sort(key=lambda e: (e.received_at, e.status is Status.RESOLVED, e.name != "HostDown"))
    return events


@settings(max_examples=300, deadline=None)
@given(outage_histories())
def test_inhibition_never_loses_the_suppressed_alert(events: list[Alert]) -> None:
    sim = simulator(INHIBIT_RULES)
    inhibited: dict[str, int | None] = {}
    for event in events:
        decision = sim.feed(event)
        if decision.alert is not None and decision.alert.disposition is Disposition.INHIBITED:
            source = decision.alert.suppressed_by or ""
            assert source.startswith("inhibit:alertmanager:HostDown@")
            inhibited[event.fingerprint] = sim.group_incident.get(f"host-down|host={event.host}")
    sim.advance(at(24 * 60))
    for fingerprint, incident in inhibited.items():
        assert fingerprint in sim.alerts  # recorded
        if incident is not None:
            assert fingerprint in sim.incidents[incident - 1].related  # listed with its cause
    for state in sim.alerts.values():
        if state.status is Status.FIRING and not state.fingerprint.startswith("alertmanager:HostDown"):
            host = state.fingerprint.rsplit("@", 1)[1]
            cause = sim.alerts.get(f"alertmanager:HostDown@{host}")
            cause_firing = cause is not None and cause.status is Status.FIRING
            # still firing: either in an incident of its own, or its cause is still down
            assert state.disposition is Disposition.INCIDENT or (
                state.disposition is Disposition.INHIBITED and cause_firing
            ), state

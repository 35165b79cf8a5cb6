"""The engine's shortcuts give what the plain computation gives: the storm watch stepped with its
remembered facts, `Engine.repeat` before `decide`, `evolve`'s per-class copier and the quick
`__init__` of the engine's values."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dedup.engine import Engine
from bridge.dedup.evolve import evolve
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.rules import StormSpec
from bridge.dedup.simulator import Simulator
from bridge.dedup.state import Context, Decision, GroupState, IncidentView, Outcome, StormEntry
from bridge.dedup.storm import KEPT_ENTRIES, facts, in_window, recent, step, watch
from bridge.priority import Priority
from tests.support.alerts import alert

T0 = datetime(2026, 11, 22, tzinfo=UTC)
SPEC = StormSpec(hosts=10, within=timedelta(minutes=2), grace=timedelta(seconds=30))


def _entry(second: int, host: int, member: bool) -> StormEntry:
    return StormEntry(T0 + timedelta(seconds=second), f"h{host}", f"f{host}", (("site", "a"),), member)


entries_strategy = st.lists(
    st.tuples(st.integers(0, 400), st.integers(0, 30), st.booleans()), max_size=KEPT_ENTRIES + 5
)


@settings(max_examples=300, deadline=None)
@given(
    raw=entries_strategy,
    ordered=st.booleans(),
    alive=st.booleans(),
    host=st.integers(0, 40),
    now_second=st.integers(0, 600),
    chained=st.integers(0, 3),
    joining=st.booleans(),
)
def test_stepping_the_watch_with_its_facts_is_watch_of_recent(
    raw: list[tuple[int, int, bool]],
    ordered: bool,
    alive: bool,
    host: int,
    now_second: int,
    chained: int,
    joining: bool,
) -> None:
    """Whatever the watch holds (in order of start or not, storm going on or not, the alert's
    earlier start in it or not, more than the bound), `step` gives the entries, the window and
    facts that the filters give entry by entry, its entry marked a member or not; and stepping
    again from those facts too."""
    if ordered:
        raw = sorted(raw)
    seen: set[str] = set()
    stored = []
    for second, h, member in raw:
        entry = _entry(second, h, member)
        if entry.fingerprint not in seen:  # the watch holds one entry per fingerprint
            seen.add(entry.fingerprint)
            stored.append(entry)
    incident = IncidentView(1, True, Priority.P1, None) if alive else None
    group = dataclasses.replace(
        GroupState.empty("storm", "r", "Alert storm"), storm=tuple(stored), incident=incident
    )
    known = facts(group.storm)
    for n in range(chained + 1):
        now = T0 + timedelta(seconds=now_second + 5 * n)
        number = (host + n) % 41
        event = alert("HostDown", f"h{number}", labels={"site": "a"}, fingerprint=f"f{number}")
        expected = watch(recent(group, SPEC, now), event, now, member=joining)
        expected_window = in_window(expected, SPEC, now) if alive else expected
        entries, window, after = step(group, SPEC, event, now, known, joining)
        assert entries == expected
        assert window == expected_window
        fresh = facts(expected)
        assert after.entries is entries
        assert set(after.fingerprints) == set(fresh.fingerprints)
        assert (after.ordered, after.nonmembers) == (fresh.ordered, fresh.nonmembers)
        group = dataclasses.replace(group, storm=entries)
        known = after


RULES = """
defaults: {resolve_after: 5m, reopen_within: 1h, priority: P3}
storm: {hosts: 3, within: 2m}
rules:
  - name: host-down
    match: {name: HostDown}
    priority: P1
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
  - name: cpu
    match: {name: HighCPU}
    for: 5m
"""


def test_a_repeat_answered_early_is_what_decide_answers() -> None:
    """Every event the simulator decides: when `Engine.repeat` answers, `decide` with the groups
    and the context answers the same; and it answers for the repeats of a steady alert. When
    `Engine.plain_repeat` answers, `repeat` answers the same, and it answers for most of those."""
    engine = Engine(load_rules_texts({"rules.yaml": RULES}))
    sim = Simulator(engine)
    answered = plain = 0
    events = []
    for minute in range(0, 30, 2):
        for host in range(4):
            name = "HostDown" if host == 0 else "HighCPU"
            severity = "critical" if host == 0 else "warning"
            status = "resolved" if minute >= 20 and host % 2 else "firing"
            events.append(
                alert(
                    name, f"h{host}", start=1, end=minute, received=minute, severity=severity, status=status
                )
            )
    for event in events:
        known = sim.alerts.get(engine.identity(event))
        routing = engine.route(event, known, event.received_at)
        assert routing is not None
        early = engine.repeat(routing, known)
        before_routing = engine.plain_repeat(event, known)
        if before_routing is not None:
            plain += 1
            assert before_routing == early
        if early is not None:
            answered += 1
            groups = sim._groups_for(routing, known)
            assert engine.decide(routing, known, groups, event.received_at, sim._context()) == early
        sim.feed(event)
    assert answered > 10 and plain == answered  # no `dedup_by`, no heartbeat: every repeat is plain


def test_evolve_is_dataclasses_replace() -> None:
    group = GroupState.empty("k", "r", "t")
    changed = evolve(group, firing=3, title="x")
    assert changed == dataclasses.replace(group, firing=3, title="x")
    assert changed is not group and group.firing == 0
    with pytest.raises(AttributeError):
        evolve(group, no_such_field=1)


def test_the_quick_init_takes_what_the_dataclass_takes() -> None:
    decision = Decision(Outcome.DUPLICATE, "why")
    assert (decision.alert, decision.groups, decision.regroup) == (None, (), ())
    assert Decision(outcome=Outcome.STALE, reason="r", timers=()) == Decision(Outcome.STALE, "r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.reason = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Decision(Outcome.STALE)  # type: ignore[call-arg]
    first, second = Context(), Context()
    assert first.inhibitors == {} and first.inhibitors is not second.inhibitors  # default_factory
    assert hash(StormEntry(T0, "h", "f")) == hash(StormEntry(T0, "h", "f"))


ROUTED_RULES = """
defaults: {resolve_after: 5m, reopen_within: 1h, priority: P3}
storm: {hosts: 3, within: 2m}
rules:
  - name: acme
    match: {customer: acme}
    client: {label: customer}
    continue: true
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    priority: P1
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
  - name: pods
    match: {name: PodCrashLooping}
    dedup_by: [name, namespace]
    group_by: [name, fingerprint]  # the merged alert's fingerprint, not the raw one's
  - name: noise
    match: {severity: info}
    action: drop
  - name: cpu
    match: {name: HighCPU}
    for: 5m
"""


@settings(max_examples=60, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["HostDown", "HighCPU", "PodCrashLooping", "DiskFull"]),
            st.integers(0, 3),  # host
            st.sampled_from(["critical", "warning", "info"]),
            st.booleans(),  # resolved
            st.integers(0, 2),  # start, minutes
            st.booleans(),  # customer acme
        ),
        max_size=40,
    )
)
def test_a_route_worked_out_ahead_is_the_route(events: list[tuple[str, int, str, bool, int, bool]]) -> None:
    """`Engine.route` given the alert's `first_route` (what a replay's reading process works out)
    routes every event as it routes it alone: merged by `dedup_by` or not, dropped, known or
    new, under rules that `continue`."""
    engine = Engine(load_rules_texts({"rules.yaml": ROUTED_RULES}))
    sim = Simulator(engine)
    for minute, (name, host, severity, resolved, start, acme) in enumerate(events):
        labels = {"namespace": f"ns{host % 2}", **({"customer": "acme"} if acme else {})}
        event = alert(
            name,
            f"h{host}",
            start=start,
            end=minute if resolved else None,
            received=minute,
            severity=severity,
            status="resolved" if resolved else "firing",
            labels=labels,
        )
        known = sim.alerts.get(engine.identity(event))
        alone = engine.route(event, known, event.received_at)
        ahead = engine.route(event, known, event.received_at, engine.first_route(event))
        assert ahead == alone
        sim.feed(event, event.received_at, engine.first_route(event))


def test_evolved_and_quickly_built_values_are_their_class_frozen() -> None:
    """`evolve` and the quick `__init__` build values of the class itself (not of the twin they
    are filled as), as frozen, hashable and picklable as the dataclass makes them; a subclass's
    instance keeps its class."""
    group = evolve(GroupState.empty("k", "r", "t"), firing=2)
    entry = StormEntry(T0, "h", "f")
    for value in (group, entry, Decision(Outcome.WAITING, "why")):
        assert type(value) in (GroupState, StormEntry, Decision)
        again = pickle.loads(pickle.dumps(value))  # noqa: S301 - our own value
        assert again == value and hash(again) == hash(value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.__setattr__(dataclasses.fields(value)[0].name, "other")
    assert type(group) is GroupState and type(entry) is StormEntry

    class Marked(StormEntry):
        __slots__ = ("mark",)

    marked = Marked(T0, "h", "f")
    assert type(marked) is Marked and (marked.host, marked.member) == ("h", False)

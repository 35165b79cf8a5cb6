"""`Engine.idle_timer` answers only what `on_timer` answers, whatever the group's incident: the
simulator asks it before viewing a group with its incident."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.state import EngineTimer, GroupState, IncidentView
from bridge.priority import Priority

T0 = datetime(2026, 11, 22, tzinfo=UTC)

RULES = """
rules:
  - name: cpu
    match: {name: HighCPU}
    group_by: [host]
    for: 5m
    threshold: {count: 2, within: 10m}
    flapping: {changes: 4, within: 10m, below: 2}
  - name: beat
    kind: heartbeat
    match: {name: Watchdog}
    every: 10m
"""
ENGINE = Engine(load_rules_texts({"rules.yaml": RULES}))


@settings(max_examples=400, deadline=None)
@given(
    kind=st.sampled_from(list(EngineTimer)),
    rule=st.sampled_from(["cpu", "beat"]),
    firing=st.integers(0, 3),
    incident=st.none() | st.tuples(st.booleans(), st.none() | st.integers(0, 30)),
    since=st.none() | st.integers(0, 30),
    flapping=st.booleans(),
    changes=st.lists(st.integers(0, 30), max_size=6),
    now=st.integers(0, 40),
)
def test_idle_timer_answers_what_on_timer_answers(
    kind: EngineTimer,
    rule: str,
    firing: int,
    incident: tuple[bool, int | None] | None,
    since: int | None,
    flapping: bool,
    changes: list[int],
    now: int,
) -> None:
    def minute(n: int | None) -> datetime | None:
        return None if n is None else T0 + timedelta(minutes=n)

    group = dataclasses.replace(
        GroupState.empty("g", rule, "HighCPU on h1"),
        firing=firing,
        firing_since=minute(since) if firing else None,
        quiet_since=None if firing else minute(since),
        last_seen=minute(since),
        flapping=flapping,
        changes=tuple(T0 + timedelta(minutes=c) for c in sorted(changes)),
        occurrences=tuple(T0 + timedelta(minutes=c) for c in sorted(changes)[-2:]),
        incident=None if incident is None else IncidentView(1, incident[0], Priority.P3, minute(incident[1])),
    )
    idle = ENGINE.idle_timer(kind, group)
    if idle is not None:
        assert ENGINE.on_timer(kind, group, T0 + timedelta(minutes=now)) == idle
    else:
        assert not (kind is EngineTimer.HOLD and firing == 0)  # what it is there to answer

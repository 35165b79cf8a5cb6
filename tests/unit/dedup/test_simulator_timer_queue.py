"""A timer asked for again at the time it is due already gets no second queue entry (that entry
was skipped when popped): the simulator decides as it did when every request was queued."""

from __future__ import annotations

import heapq
from datetime import datetime

from hypothesis import given, settings

from bridge.alert import Alert
from bridge.dedup.simulator import Simulator
from bridge.dedup.state import EngineTimer
from tests.support.alerts import alert, at, simulator
from tests.unit.dedup.test_engine_properties import histories

RULES = """
defaults:
  resolve_after: 5m
  reopen_within: 30m
rules:
  - name: held
    match: {name: Held}
    group_by: [name]
    for: 10m
    flapping: {changes: 3, within: 30m, below: 2}
  - name: counted
    match: {name: Counted}
    threshold: {count: 3, within: 20m}
    flapping: {changes: 2, within: 20m, below: 1}
  - name: grouped
    match: {name: Grouped}
    group_by: [name]
"""


class _EveryRequestQueued(Simulator):
    """Queues every timer request, as the simulator did before."""

    def _queue_timer(self, kind: EngineTimer, key: str, due: datetime) -> None:
        self._timers[(kind, key)] = due
        heapq.heappush(self._queue, (due, kind.value, key))


def _seen(sim: Simulator) -> tuple[object, ...]:
    incidents = [
        (i.number, i.group_key, i.status, i.priority, sorted(i.alerts), i.occurrences, i.timeline, i.step)
        for i in sim.incidents
    ]
    return incidents, sim.alerts, sim.groups, sim.outcomes, sim.reached, sim.flapping_attached, sim._timers


@settings(max_examples=300, deadline=None)
@given(histories())
def test_a_timer_requested_again_decides_as_when_every_request_was_queued(events: list[Alert]) -> None:
    plain = simulator(RULES)
    queued = _EveryRequestQueued(plain.engine)
    for n, event in enumerate(events):
        for sim in (plain, queued):
            sim.position = (n, 0)
            sim.feed(event)
        assert _seen(plain) == _seen(queued)
    for sim in (plain, queued):
        sim.advance(at(24 * 60))
    assert _seen(plain) == _seen(queued)


def test_a_waiting_group_asked_for_its_hold_again_queues_it_once() -> None:
    plain = simulator(RULES)
    queued = _EveryRequestQueued(plain.engine)
    for host in ("a", "b", "c"):  # each joins the waiting group `held|name=Held`: the same hold
        event = alert("Held", host, start=1, received=2)
        plain.feed(event)
        queued.feed(event)
    holds = [[entry for entry in sim._queue if entry[1] == "hold"] for sim in (plain, queued)]
    assert [len(h) for h in holds] == [1, 3]
    assert _seen(plain) == _seen(queued)

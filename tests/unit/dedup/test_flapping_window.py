"""`GroupOps.changed` and `check_flapping` find the flapping window of a group's changes by
bisection (its changes are sorted): they give what filtering every change one by one gave, the
plain computation kept here as it was written before."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dedup.groups import GroupOps, Work
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.rules import Rule
from bridge.dedup.state import EffectKind, EngineTimer, GroupState, IncidentEffect, IncidentView, TimerRequest
from bridge.priority import Priority
from bridge.timeutil import format_duration

T0 = datetime(2026, 11, 22, tzinfo=UTC)

RULES = """
rules:
  - name: link
    match: {alertname: LinkDown}
    group_by: [host]
    flapping: {changes: 4, within: 10m, below: 2}
"""
RULE_SET = load_rules_texts({"rules.yaml": RULES})
RULE = RULE_SET.rule_named("link")


class _PlainOps(GroupOps):
    """`changed` and `check_flapping` as they filtered every change (before bisection)."""

    def changed(self, work: Work, group: GroupState, rule: Rule, at: datetime, now: datetime) -> GroupState:
        if rule.flapping is None:
            return work.put(group)
        since = now - rule.flapping.within
        changes = tuple(t for t in sorted((*group.changes, at)) if t > since)
        return self.check_flapping(work, dataclasses.replace(group, changes=changes), rule, now)

    def check_flapping(self, work: Work, group: GroupState, rule: Rule, now: datetime) -> GroupState:
        flapping = rule.flapping
        assert flapping is not None
        since = now - flapping.within
        recent = [t for t in group.changes if t > since]
        group = dataclasses.replace(group, changes=tuple(recent))
        counted = f"{len(recent)} changes in {format_duration(flapping.within)}"
        if not group.flapping and len(recent) >= flapping.changes:
            group = work.put(dataclasses.replace(group, flapping=True))
            if group.incident is not None and group.incident.active:
                work.effects.append(
                    IncidentEffect(EffectKind.FLAPPING_STARTED, group.key, text=f"flapping: {counted}")
                )
        elif group.flapping and len(recent) < flapping.below:
            group = work.put(dataclasses.replace(group, flapping=False))
            if group.incident is not None and group.incident.active:
                work.effects.append(
                    IncidentEffect(
                        EffectKind.FLAPPING_ENDED, group.key, text=f"no longer flapping: {counted}"
                    )
                )
                if group.firing == 0 and group.quiet_since is not None:
                    self.resolve_when_due(work, group, rule, now)
        else:
            group = work.put(group)
        if group.flapping and recent:
            work.timers.append(TimerRequest(EngineTimer.FLAPPING, group.key, recent[0] + flapping.within))
        return group


def _group(changes: list[int], flapping: bool, active: bool | None, firing: int) -> GroupState:
    incident = None if active is None else IncidentView(1, active, Priority.P2, None)
    return dataclasses.replace(
        GroupState.empty("link|host=h1", "link", "LinkDown on h1"),
        changes=tuple(T0 + timedelta(seconds=s) for s in sorted(changes)),
        flapping=flapping,
        incident=incident,
        firing=firing,
        quiet_since=None if firing else T0,
    )


def _outcome(work: Work, group: GroupState) -> tuple[object, ...]:
    return (group, work.groups, work.changed, work.effects, work.timers)


# seconds from T0 on a coarse grid: changes, the new change and the window's start often coincide
seconds = st.integers(0, 120).map(lambda n: n * 15)


@settings(max_examples=500, deadline=None)
@given(
    changes=st.lists(seconds, max_size=30),
    at=seconds,
    now=seconds,
    flapping=st.booleans(),
    active=st.none() | st.booleans(),
    firing=st.integers(0, 2),
)
def test_changed_and_check_flapping_give_what_filtering_every_change_gave(
    changes: list[int], at: int, now: int, flapping: bool, active: bool | None, firing: int
) -> None:
    group = _group(changes, flapping, active, firing)
    instant, at_instant = T0 + timedelta(seconds=now), T0 + timedelta(seconds=at)
    ops, plain = GroupOps(RULE_SET, str), _PlainOps(RULE_SET, str)

    work, expected_work = Work({group.key: group}), Work({group.key: group})
    got = ops.changed(work, group, RULE, at_instant, instant)
    expected = plain.changed(expected_work, group, RULE, at_instant, instant)
    assert _outcome(work, got) == _outcome(expected_work, expected)

    work, expected_work = Work({group.key: group}), Work({group.key: group})
    got = ops.check_flapping(work, group, RULE, instant)
    expected = plain.check_flapping(expected_work, group, RULE, instant)
    assert _outcome(work, got) == _outcome(expected_work, expected)


def test_a_change_equal_to_others_goes_after_them() -> None:
    """`sorted` is stable: the new change is placed after the equal ones (an equal instant in
    another zone is another object)."""
    moscow = T0.astimezone(ZoneInfo("Europe/Moscow"))
    group = dataclasses.replace(_group([], False, None, 1), changes=(moscow,))
    work = Work({group.key: group})
    got = GroupOps(RULE_SET, str).changed(work, group, RULE, T0, T0)
    assert [t.tzinfo for t in got.changes] == [moscow.tzinfo, UTC]

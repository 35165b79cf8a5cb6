"""How a group of alerts moves: alerts enter and leave it, its gate (`threshold:`, `for:`) opens
an incident, quiet resolves it, flapping holds it open. Pure; used by `bridge.dedup.engine`.

Flapping has hysteresis: a group starts flapping when `changes` fires and resolutions happen
within `within`, and stops only when fewer than `below` remain in the window. While flapping,
its incident stays open (marked flapping) instead of resolving and reopening over and over.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bridge.alert import Alert, Severity, Source
from bridge.dedup.evolve import evolve, quick_init
from bridge.dedup.rules import OpenWhen, Rule, RuleSet, Threshold
from bridge.dedup.state import (
    EffectKind,
    EngineTimer,
    GroupState,
    IncidentEffect,
    IncidentView,
    TimerRequest,
)
from bridge.timeutil import format_duration


@quick_init
@dataclass(frozen=True, slots=True)
class Gate:
    passed: bool
    reason: str
    due: datetime | None = None  # when `for:` will have elapsed, if that is all that is missing


@dataclass(slots=True)
class Work:
    """Mutable scratch space for building one Decision."""

    groups: dict[str, GroupState]
    changed: dict[str, GroupState] = field(default_factory=dict)
    effects: list[IncidentEffect] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    releases: list[str] = field(default_factory=list)
    regroup: list[str] = field(default_factory=list)

    def put(self, group: GroupState) -> GroupState:
        self.groups[group.key] = group
        self.changed[group.key] = group
        return group


def origin_note(alert: Alert) -> str:
    """How bridge learned of this event, when it is not the usual delivery."""
    return origin_text(alert.origin, alert.source)


def origin_text(origin: str, source: Source) -> str:
    """The timeline's note for an alert's origin ("found by reconciliation with Zabbix"), or ""."""
    if origin == "reconciliation":
        return f"found by reconciliation with {source.value.capitalize()}"
    return ""


def client_of(rule: Rule, alert: Alert) -> str | None:
    """Whose system the alert is about, by the rule's `client:`; None without one."""
    return rule.client.client_of(alert) if rule.client is not None else None


def most_severe(current: Severity | None, alert: Alert) -> Severity:
    if current is None or alert.severity.rank < current.rank:
        return alert.severity
    return current


class GroupOps:
    def __init__(self, rules: RuleSet, when: Callable[[datetime], str]) -> None:
        self.rules = rules
        self.when = when  # formats an instant for people

    # -- entering and leaving -------------------------------------------------------------------

    def enter(
        self,
        work: Work,
        group: GroupState,
        alert: Alert,
        rule: Rule,
        new_occurrence: bool,
        counted: bool,
        now: datetime,
    ) -> GroupState:
        """Count a firing alert into its group (once) and record a new occurrence for `threshold:`."""
        occurrences = group.occurrences
        if new_occurrence and rule.threshold is not None:
            occurrences = tuple(sorted((*occurrences, alert.starts_at)))[-rule.threshold.count :]
        start = min(alert.starts_at, alert.received_at)  # a source clock running ahead cannot delay `for:`
        severity = most_severe(group.severity, alert)
        if counted:
            if not new_occurrence:
                return group
            if group.firing <= 1:
                # It fired again, so its previous occurrence ended (its resolution never reached us):
                # as the only alert firing in the group, the unbroken stretch starts again now.
                group = evolve(
                    group,
                    occurrences=occurrences,
                    firing_since=start,
                    severity=alert.severity,
                    client=client_of(rule, alert),
                )
            else:
                group = evolve(group, occurrences=occurrences, severity=severity)
            return self.changed(work, group, rule, alert.starts_at, now)
        client = group.client if group.client is not None else client_of(rule, alert)
        if group.firing == 0:
            severity = alert.severity  # a new stretch: what fired before it does not count
            client = client_of(rule, alert)  # ... and it is the client of the alert starting it
        since = start if group.firing_since is None else min(group.firing_since, start)
        group = evolve(
            group,
            firing=group.firing + 1,
            firing_since=since,
            quiet_since=None,
            occurrences=occurrences,
            severity=severity,
            client=client,
        )
        return self.changed(work, group, rule, alert.starts_at, now)

    def leave(
        self,
        work: Work,
        key: str,
        fingerprint: str,
        incident: int | None,
        attached: bool,
        at: datetime,
        now: datetime,
        note: str = "",
    ) -> None:
        """An alert of group `key` stopped firing at `at`: count it out, maybe resolve the incident."""
        group = work.groups.get(key)
        if group is None:
            return
        firing = max(group.firing - 1, 0)
        if firing == 0:
            group = evolve(group, firing=0, firing_since=None, quiet_since=at)
        else:
            group = evolve(group, firing=firing)
        if attached:
            work.effects.append(
                IncidentEffect(
                    EffectKind.ALERT_RESOLVED, key, incident=incident, fingerprint=fingerprint, text=note
                )
            )
        rule = self.rules.rule_named(group.rule)
        group = self.changed(work, group, rule, at, now)
        if firing == 0 and group.incident is not None and group.incident.active and not group.flapping:
            self.resolve_when_due(work, group, rule, now)

    def resolve_when_due(self, work: Work, group: GroupState, rule: Rule, now: datetime) -> None:
        assert group.quiet_since is not None and group.incident is not None
        due = group.quiet_since + rule.resolve_after
        if due <= now:
            quiet = format_duration(rule.resolve_after)
            work.effects.append(
                IncidentEffect(
                    EffectKind.RESOLVE, group.key, text=f"all alerts resolved and quiet for {quiet}"
                )
            )
            work.put(evolve(group, incident=evolve(group.incident, active=False, resolved_at=now)))
        else:
            work.timers.append(TimerRequest(EngineTimer.RESOLVE, group.key, due))

    # -- flapping -------------------------------------------------------------------------------

    def changed(self, work: Work, group: GroupState, rule: Rule, at: datetime, now: datetime) -> GroupState:
        """An alert of the group fired or resolved at `at`: count it, and see if the group flaps."""
        if rule.flapping is None:
            return work.put(group)
        since = now - rule.flapping.within  # `t > since`: `now - t < within`, no timedelta per change
        changes = group.changes  # sorted (`GroupState.changes`): what left the window is a prefix
        start = bisect_right(changes, since)
        if at > since:  # `at` goes where `sorted` would put it: after the changes equal to it
            position = bisect_right(changes, at, start)
            recent = (*changes[start:position], at, *changes[position:])
        else:
            recent = changes[start:]
        return self._flapping(work, evolve(group, changes=recent), rule, now, recent)

    def check_flapping(self, work: Work, group: GroupState, rule: Rule, now: datetime) -> GroupState:
        assert rule.flapping is not None
        changes = group.changes  # sorted (`GroupState.changes`): what left the window is a prefix
        recent = changes[bisect_right(changes, now - rule.flapping.within) :]
        if len(recent) != len(changes):
            group = evolve(group, changes=recent)
        return self._flapping(work, group, rule, now, recent)

    def _flapping(
        self, work: Work, group: GroupState, rule: Rule, now: datetime, recent: tuple[datetime, ...]
    ) -> GroupState:
        """Start or stop the group's flapping by its `recent` changes (those within the window,
        `group.changes` already)."""
        flapping = rule.flapping
        assert flapping is not None
        if not group.flapping and len(recent) >= flapping.changes:
            group = work.put(evolve(group, flapping=True))
            if group.incident is not None and group.incident.active:
                counted = f"{len(recent)} changes in {format_duration(flapping.within)}"
                work.effects.append(
                    IncidentEffect(EffectKind.FLAPPING_STARTED, group.key, text=f"flapping: {counted}")
                )
        elif group.flapping and len(recent) < flapping.below:
            group = work.put(evolve(group, flapping=False))
            if group.incident is not None and group.incident.active:
                counted = f"{len(recent)} changes in {format_duration(flapping.within)}"
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
            # it calms down at the latest when its oldest change leaves the window
            work.timers.append(TimerRequest(EngineTimer.FLAPPING, group.key, recent[0] + flapping.within))
        return group

    # -- incidents ------------------------------------------------------------------------------

    def attach(self, work: Work, group: GroupState, alert: Alert, rule: Rule) -> int | None:
        """This alert's current occurrence joins the group's incident; returns its number."""
        assert group.incident is not None
        work.effects.append(
            IncidentEffect(
                EffectKind.ATTACH, group.key, fingerprint=alert.fingerprint, text=origin_note(alert)
            )
        )
        self.raise_priority(work, group, alert, rule)
        return group.incident.number

    def raise_priority(self, work: Work, group: GroupState, alert: Alert, rule: Rule) -> None:
        group = work.groups[group.key]
        assert group.incident is not None
        priority = rule.priority.for_severity(alert.severity)
        if priority.is_higher_than(group.incident.priority):
            work.effects.append(
                IncidentEffect(
                    EffectKind.RAISE_PRIORITY,
                    group.key,
                    priority=priority,
                    fingerprint=alert.fingerprint,
                    text=f"{alert.name} is {alert.severity}",
                )
            )
            work.put(evolve(group, incident=evolve(group.incident, priority=priority)))

    def open(
        self,
        work: Work,
        group: GroupState,
        rule: Rule,
        alert: Alert | None,
        why: str,
        at: datetime,
        title: str | None = None,
    ) -> GroupState:
        """Open a new incident for the group, or reopen its recently resolved one."""
        current = group.incident
        severity = group.severity if alert is None else most_severe(group.severity, alert)
        priority = rule.priority.for_severity(severity) if severity is not None else rule.priority.default
        if (
            current is not None
            and current.resolved_at is not None
            and at - current.resolved_at <= rule.reopen_within
        ):
            work.effects.append(
                IncidentEffect(
                    EffectKind.REOPEN,
                    group.key,
                    incident=current.number,
                    flapping=group.flapping,
                    text=f"fired again within {format_duration(rule.reopen_within)} of resolving ({why})",
                )
            )
            view = evolve(current, active=True, resolved_at=None)
        else:
            # opened by a timer (no alert at hand): the client of the alert that started the stretch
            client = client_of(rule, alert) if alert is not None else None
            if client is None:
                client = group.client
            work.effects.append(
                IncidentEffect(
                    EffectKind.OPEN,
                    group.key,
                    priority=priority,
                    title=title or group.title,
                    text=why,
                    route=rule.route,
                    client=client,
                    line=rule.support_line,
                    flapping=group.flapping,
                )
            )
            view = IncidentView(number=None, active=True, priority=priority, resolved_at=None)
        if group.flapping and rule.flapping is not None:
            # it began flapping before there was an incident to say so on: say it now
            counted = f"{len(group.changes)} changes in {format_duration(rule.flapping.within)}"
            work.effects.append(
                IncidentEffect(EffectKind.FLAPPING_STARTED, group.key, text=f"flapping: {counted}")
            )
        return work.put(evolve(group, incident=view, occurrences=()))

    # -- the gate -------------------------------------------------------------------------------

    def gate(self, group: GroupState, rule: Rule, at: datetime) -> Gate:
        """Has the group met its rule's threshold and `for:` hold at `at` (both, or either one
        with `open_when: any`)?"""
        if rule.open_when is OpenWhen.ANY and rule.threshold is not None and rule.hold is not None:
            return self._any_gate(group, rule.threshold, rule.hold, at)
        parts = []
        if rule.threshold is not None:
            count, within = rule.threshold.count, rule.threshold.within
            recent = _recent_starts(group, within, at)
            parts.append(f"threshold {recent} of {count} within {format_duration(within)}")
            if recent < count:
                return Gate(False, parts[0])
        if rule.hold is not None:
            since = group.firing_since or at
            due = since + rule.hold
            if at < due:
                parts.append(self._holding(rule.hold, since, due))
                return Gate(False, "; ".join(parts), due=due)
            parts.append(f"firing for {format_duration(at - since)} (for {format_duration(rule.hold)})")
        return Gate(True, "; ".join(parts), due=at)

    def _any_gate(self, group: GroupState, threshold: Threshold, hold: timedelta, at: datetime) -> Gate:
        """`open_when: any`: persistent (firing `for:` without a break) or recurring (`threshold:`
        starts within its window), whichever comes first."""
        count, within = threshold.count, threshold.within
        recent = _recent_starts(group, within, at)
        if recent >= count:
            return Gate(True, f"{ordinal(count)} start within {format_duration(within)}", due=at)
        since = group.firing_since or at
        due = since + hold
        if at >= due:
            return Gate(True, f"firing {format_duration(at - since)}", due=at)
        waiting = (
            f"threshold {recent} of {count} within {format_duration(within)}, "
            f"or {self._holding(hold, since, due)}"
        )
        return Gate(False, waiting, due=due)

    def _holding(self, hold: timedelta, since: datetime, due: datetime) -> str:
        return (
            f"for {format_duration(hold)}: firing since {self.when(since)}, "
            f"opens at {self.when(due)} if still firing"
        )


def _recent_starts(group: GroupState, within: timedelta, at: datetime) -> int:
    """Occurrence starts of the group within `within` of its latest one."""
    latest = group.occurrences[-1] if group.occurrences else at
    return sum(1 for t in group.occurrences if latest - t <= within)


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th ... 11th, 12th, 13th ... 21st."""
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }"

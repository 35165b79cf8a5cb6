"""The pure rule engine: alert events and timers in, decisions out. No database, clock or network.

An alert event is classified against what is known about its fingerprint:
- a *new occurrence* (first sight, or a later start: it resolved and fired again),
- the *same occurrence* (a repeat, an update, its resolution),
- or *stale* (older than what is known: a late redelivery never rolls state back).
A new occurrence is routed by the first matching rule into a group (`group_by`); a known
occurrence stays in its group. A group opens an incident once its gate passes (`threshold:`
occurrences, then `for:` of unbroken firing), reopens its recently resolved incident instead of
opening a new one (`reopen_within`), and resolves it once everything stayed resolved for
`resolve_after`. Waiting on time is expressed as timer requests; `on_timer` finishes the job.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from enum import Enum

from bridge.alert import Alert, Severity, Status
from bridge.dedup.rules import Action, Rule, RuleSet
from bridge.dedup.state import (
    ActionKind,
    AlertState,
    Decision,
    Disposition,
    GroupState,
    IncidentAction,
    IncidentView,
    Outcome,
    TimerKind,
    TimerRequest,
)
from bridge.timeutil import format_duration

_MAX_KEY = 240


class EventClass(Enum):
    NEW = "new occurrence"
    SAME = "same occurrence"
    STALE = "stale"


def classify(alert: Alert, known: AlertState | None) -> EventClass:
    """Is this event a new occurrence, news about the known one, or older than what is known?"""
    if known is None:
        return EventClass.NEW
    if alert.recurring and alert.starts_at > known.starts_at:
        return EventClass.NEW
    if alert.recurring and alert.starts_at < known.starts_at:
        return EventClass.STALE
    if known.status is Status.RESOLVED and alert.status is Status.FIRING:
        return EventClass.STALE  # the resolution is the newer news about this occurrence
    return EventClass.SAME


def _origin_note(alert: Alert) -> str:
    """How bridge learned of this event, when it is not the usual delivery."""
    if alert.origin == "reconciliation":
        return f"found by reconciliation with {alert.source.value.capitalize()}"
    return ""


def _most_severe(current: Severity | None, alert: Alert) -> Severity:
    if current is None or alert.severity.rank < current.rank:
        return alert.severity
    return current


def group_key(rule: Rule, alert: Alert) -> str:
    """``rule|field=value,...``: alerts with equal values under one rule share an incident."""
    values = ",".join(f"{k}={alert.field(k)}" for k in rule.group_by)
    key = f"{rule.name}|{values}"
    if len(key) > _MAX_KEY:
        key = key[: _MAX_KEY - 17] + "~" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return key


def incident_title(rule: Rule, alert: Alert) -> str:
    """The alert name, with its host when the group is per host and the name does not say it."""
    host = alert.host
    if not host or "host" not in rule.group_by:
        return alert.name
    host_name = alert.labels.get("host_name", "")
    lowered = alert.name.lower()
    if host.lower() in lowered or (host_name and host_name.lower() in lowered):
        return alert.name
    return f"{alert.name} on {host}"


@dataclass(frozen=True, slots=True)
class Gate:
    passed: bool
    reason: str
    due: datetime | None = None  # when `for:` will have elapsed, if that is all that is missing


@dataclass
class _Work:
    """Mutable scratch space for building one Decision."""

    groups: dict[str, GroupState]
    changed: dict[str, GroupState] = field(default_factory=dict)
    actions: list[IncidentAction] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)

    def put(self, group: GroupState) -> GroupState:
        self.groups[group.key] = group
        self.changed[group.key] = group
        return group


class Engine:
    """Rules plus display settings. Every method is a pure function of its arguments."""

    def __init__(self, rules: RuleSet, tz: tzinfo = UTC) -> None:
        self.rules = rules
        self.tz = tz

    # -- routing --------------------------------------------------------------------------------

    def route(self, alert: Alert, known: AlertState | None) -> tuple[Rule, str | None]:
        """The rule for this event and the key of the group it belongs to (None: dropped).

        A known occurrence keeps its group, so an incident never splits mid-way; a dropped alert
        is routed again on every event, so that an escalation (or a rule change) is never missed.
        """
        if known is not None and known.group_key is not None and classify(alert, known) is not EventClass.NEW:
            return self.rules.rule_named(known.rule), known.group_key
        rule = self.rules.first_match(alert)
        if rule.action is Action.DROP:
            return rule, None
        return rule, group_key(rule, alert)

    # -- alert events ---------------------------------------------------------------------------

    def decide(
        self,
        alert: Alert,
        known: AlertState | None,
        rule: Rule,
        target: str | None,
        groups: Mapping[str, GroupState],
        now: datetime,
    ) -> Decision:
        """Decide about one alert event routed (by `route`) to `rule` and group `target`.

        `groups` holds the states of `target` and of the group the alert is known in; a missing
        one has no state yet.
        """
        event = classify(alert, known)
        if event is EventClass.STALE:
            assert known is not None
            return self._stale(alert, known)
        if known is not None and not alert.recurring and alert.starts_at != known.starts_at:
            ends_at = None if alert.ends_at is None else max(alert.ends_at, known.starts_at)
            alert = replace(
                alert, starts_at=known.starts_at, ends_at=ends_at
            )  # the first word on when it began
        firing = alert.status is Status.FIRING
        new_occurrence = event is EventClass.NEW
        old_key = known.group_key if known else None
        counted = known is not None and known.status is Status.FIRING and old_key is not None
        if known is not None and self._is_repeat(alert, known, event, target):
            return Decision(Outcome.DUPLICATE, known.describe())

        work = _Work(dict(groups))
        occurrences = (known.occurrences if known else 0) + (1 if new_occurrence else 0)
        same = known is not None and not new_occurrence
        incident = known.incident if same and known else None
        disposition = known.disposition if same and known else Disposition.WAITING
        reason = known.reason if same and known else ""

        # 1. It moved (re-routed after being dropped, or a new occurrence under other rules):
        #    the old occurrence is over as far as its old group is concerned.
        if counted and old_key != target:
            assert known is not None and old_key is not None
            self._leave(
                work,
                old_key,
                known.fingerprint,
                known.incident,
                known.disposition is Disposition.INCIDENT,
                alert.starts_at,
                now,
            )
            counted = False

        # 2. Dropped.
        if target is None:
            state = self._alert_state(
                alert, rule, None, Disposition.DROPPED, f"dropped by rule {rule.name}", None, occurrences
            )
            return self._finish(work, Outcome.DROPPED, state)

        # 3. It fires (or fired: a new occurrence first seen already resolved still happened).
        group = work.groups.get(target) or GroupState.empty(target, rule.name, incident_title(rule, alert))
        outcome = Outcome.UPDATED
        in_group = counted
        if firing or new_occurrence:
            group = self._enter(work, group, alert, rule, new_occurrence, counted)
            in_group = True
            at = now if firing else min(now, alert.ends_at or now)
            active = group.incident is not None and group.incident.active
            if active:
                assert group.incident is not None
                joined = disposition is Disposition.INCIDENT and incident == group.incident.number
                if new_occurrence or not joined:
                    outcome, disposition, incident = self._attach(work, group, alert, rule)
                elif known is not None and known.severity is not alert.severity:
                    group = work.put(replace(group, severity=_most_severe(group.severity, alert)))
                    work.actions.append(
                        IncidentAction(
                            ActionKind.ALERT_UPDATED,
                            target,
                            fingerprint=alert.fingerprint,
                            text=f"{alert.name}: severity {known.severity} -> {alert.severity}",
                        )
                    )
                    self._raise_priority(work, group, alert, rule)
            elif new_occurrence or not counted or disposition is Disposition.WAITING:
                gate = self.gate(group, rule, at)
                if gate.passed:
                    group = self._open(work, group, rule, alert, gate, at)
                    reopened = work.actions[-1].kind is ActionKind.REOPEN
                    _, disposition, incident = self._attach(work, group, alert, rule)
                    outcome = Outcome.REOPENED if reopened else Outcome.OPENED
                else:
                    outcome, disposition, reason = (
                        Outcome.WAITING,
                        Disposition.WAITING,
                        f"waiting: {gate.reason}",
                    )
                    if gate.due is not None and firing:
                        work.timers.append(TimerRequest(TimerKind.HOLD, target, gate.due))

        # 4. It resolved.
        if not firing and in_group:
            attached = disposition is Disposition.INCIDENT
            self._leave(
                work,
                target,
                alert.fingerprint,
                incident,
                attached,
                min(alert.ends_at or now, now),
                now,
                note=_origin_note(alert),
            )
            if attached:
                outcome = Outcome.RESOLVED
            else:
                detail = reason.removeprefix("waiting: ") or f"rule {rule.name}"
                disposition, outcome = Disposition.CLEARED, Outcome.CLEARED
                reason = f"resolved before opening an incident ({detail})"

        # 5. Someone did something about it in the source system.
        if alert.update is not None:
            self._note(work, target, alert, incident)
        state = self._alert_state(alert, rule, target, disposition, reason, incident, occurrences)
        return self._finish(work, outcome, state)

    @staticmethod
    def _is_repeat(alert: Alert, known: AlertState, event: EventClass, target: str | None) -> bool:
        """Nothing new: same occurrence, status, severity and group, no update, not waiting."""
        return (
            event is EventClass.SAME
            and known.status is alert.status
            and known.severity is alert.severity
            and target == known.group_key
            and alert.update is None
            and known.disposition is not Disposition.WAITING
        )

    def _stale(self, alert: Alert, known: AlertState) -> Decision:
        when = known.ends_at if known.status is Status.RESOLVED else known.starts_at
        reason = f"ignored: older than what is known ({known.status} at {self._time(when)})"
        if alert.update is not None and known.group_key is not None:
            work = _Work({})
            self._note(work, known.group_key, alert, known.incident)
            return Decision(Outcome.NOTED, reason, actions=tuple(work.actions))
        return Decision(Outcome.STALE, reason)

    def _finish(self, work: _Work, outcome: Outcome, state: AlertState) -> Decision:
        return Decision(
            outcome=outcome,
            reason=state.describe(),
            alert=state,
            groups=tuple(work.changed.values()),
            actions=tuple(work.actions),
            timers=tuple(work.timers),
        )

    @staticmethod
    def _alert_state(
        alert: Alert,
        rule: Rule,
        key: str | None,
        disposition: Disposition,
        reason: str,
        incident: int | None,
        occurrences: int,
    ) -> AlertState:
        return AlertState(
            fingerprint=alert.fingerprint,
            status=alert.status,
            starts_at=alert.starts_at,
            ends_at=alert.ends_at,
            severity=alert.severity,
            rule=rule.name,
            group_key=key,
            disposition=disposition,
            reason="" if disposition is Disposition.INCIDENT else reason,
            incident=incident if disposition is Disposition.INCIDENT else None,
            occurrences=occurrences,
        )

    # -- group bookkeeping ----------------------------------------------------------------------

    def _enter(
        self, work: _Work, group: GroupState, alert: Alert, rule: Rule, new_occurrence: bool, counted: bool
    ) -> GroupState:
        """Count a firing alert into its group (once) and record a new occurrence for `threshold:`."""
        occurrences = group.occurrences
        if new_occurrence and rule.threshold is not None:
            occurrences = tuple(sorted((*occurrences, alert.starts_at)))[-rule.threshold.count :]
        start = min(alert.starts_at, alert.received_at)  # a source clock running ahead cannot delay `for:`
        severity = _most_severe(group.severity, alert)
        if counted:
            if not new_occurrence:
                return group
            if group.firing <= 1:
                # It fired again, so its previous occurrence ended (its resolution never reached us):
                # as the only alert firing in the group, the unbroken stretch starts again now.
                return work.put(
                    replace(group, occurrences=occurrences, firing_since=start, severity=alert.severity)
                )
            return work.put(replace(group, occurrences=occurrences, severity=severity))
        if group.firing == 0:
            severity = alert.severity  # a new stretch: what fired before it does not count
        since = start if group.firing_since is None else min(group.firing_since, start)
        return work.put(
            replace(
                group,
                firing=group.firing + 1,
                firing_since=since,
                quiet_since=None,
                occurrences=occurrences,
                severity=severity,
            )
        )

    def _leave(
        self,
        work: _Work,
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
        group = replace(group, firing=firing)
        if firing == 0:
            group = replace(group, firing_since=None, quiet_since=at)
        if attached:
            work.actions.append(
                IncidentAction(
                    ActionKind.ALERT_RESOLVED, key, incident=incident, fingerprint=fingerprint, text=note
                )
            )
        work.put(group)
        if firing == 0 and group.incident is not None and group.incident.active:
            self._resolve_when_due(work, group, self.rules.rule_named(group.rule), now)

    def _resolve_when_due(self, work: _Work, group: GroupState, rule: Rule, now: datetime) -> None:
        assert group.quiet_since is not None and group.incident is not None
        due = group.quiet_since + rule.resolve_after
        if due <= now:
            quiet = format_duration(rule.resolve_after)
            work.actions.append(
                IncidentAction(
                    ActionKind.RESOLVE, group.key, text=f"all alerts resolved and quiet for {quiet}"
                )
            )
            work.put(replace(group, incident=replace(group.incident, active=False, resolved_at=now)))
        else:
            work.timers.append(TimerRequest(TimerKind.RESOLVE, group.key, due))

    def _attach(
        self, work: _Work, group: GroupState, alert: Alert, rule: Rule
    ) -> tuple[Outcome, Disposition, int | None]:
        """This alert's current occurrence joins the group's incident."""
        assert group.incident is not None
        work.actions.append(
            IncidentAction(
                ActionKind.ATTACH, group.key, fingerprint=alert.fingerprint, text=_origin_note(alert)
            )
        )
        self._raise_priority(work, group, alert, rule)
        return Outcome.ATTACHED, Disposition.INCIDENT, group.incident.number

    def _raise_priority(self, work: _Work, group: GroupState, alert: Alert, rule: Rule) -> None:
        group = work.groups[group.key]
        assert group.incident is not None
        priority = rule.priority.for_severity(alert.severity)
        if priority.is_higher_than(group.incident.priority):
            work.actions.append(
                IncidentAction(
                    ActionKind.RAISE_PRIORITY,
                    group.key,
                    priority=priority,
                    fingerprint=alert.fingerprint,
                    text=f"{alert.name} is {alert.severity}",
                )
            )
            work.put(replace(group, incident=replace(group.incident, priority=priority)))

    def _open(
        self, work: _Work, group: GroupState, rule: Rule, alert: Alert | None, gate: Gate, at: datetime
    ) -> GroupState:
        """Open a new incident for the group, or reopen its recently resolved one."""
        now_incident = group.incident
        why = f"rule {rule.name}" + (f": {gate.reason}" if gate.reason else "")
        severity = group.severity if alert is None else _most_severe(group.severity, alert)
        priority = rule.priority.for_severity(severity) if severity is not None else rule.priority.default
        if (
            now_incident is not None
            and now_incident.resolved_at is not None
            and at - now_incident.resolved_at <= rule.reopen_within
        ):
            work.actions.append(
                IncidentAction(
                    ActionKind.REOPEN,
                    group.key,
                    incident=now_incident.number,
                    text=f"fired again within {format_duration(rule.reopen_within)} of resolving ({why})",
                )
            )
            view = replace(now_incident, active=True, resolved_at=None)
        else:
            work.actions.append(
                IncidentAction(ActionKind.OPEN, group.key, priority=priority, title=group.title, text=why)
            )
            view = IncidentView(number=None, active=True, priority=priority, resolved_at=None)
        return work.put(replace(group, incident=view, occurrences=()))

    def _note(self, work: _Work, key: str, alert: Alert, incident: int | None) -> None:
        """What a person did about the alert in its source system becomes part of the incident's
        story; bridge's own write-back coming back as an update is not news."""
        update = alert.update
        assert update is not None
        if update.from_bridge:
            return
        source = alert.source.value
        who = update.user or "someone"
        text = f"{who} in {source.capitalize()}: {update.action}"
        if update.message:
            text += f": {update.message}"
        work.actions.append(
            IncidentAction(
                ActionKind.NOTE,
                key,
                incident=incident,
                fingerprint=alert.fingerprint,
                text=text,
                acknowledge=update.acknowledges,
                actor=f"{source}:{who}",
            )
        )

    # -- the gate -------------------------------------------------------------------------------

    def gate(self, group: GroupState, rule: Rule, at: datetime) -> Gate:
        """Has the group met its rule's threshold and `for:` hold at `at`?"""
        parts = []
        if rule.threshold is not None:
            count, within = rule.threshold.count, rule.threshold.within
            latest = group.occurrences[-1] if group.occurrences else at
            recent = sum(1 for t in group.occurrences if latest - t <= within)
            parts.append(f"threshold {recent} of {count} within {format_duration(within)}")
            if recent < count:
                return Gate(False, parts[0])
        if rule.hold is not None:
            since = group.firing_since or at
            due = since + rule.hold
            if at < due:
                parts.append(
                    f"for {format_duration(rule.hold)}: firing since {self._time(since)}, "
                    f"opens at {self._time(due)} if still firing"
                )
                return Gate(False, "; ".join(parts), due=due)
            parts.append(f"firing for {format_duration(at - since)} (for {format_duration(rule.hold)})")
        return Gate(True, "; ".join(parts), due=at)

    # -- timers ---------------------------------------------------------------------------------

    def on_timer(self, kind: TimerKind, group: GroupState, now: datetime) -> Decision:
        """A timer of `group` is due: open the held incident, or resolve the quiet one."""
        rule = self.rules.rule_named(group.rule)
        work = _Work({group.key: group})
        active = group.incident is not None and group.incident.active
        if kind is TimerKind.HOLD:
            if active or group.firing == 0:
                return Decision(Outcome.NOTHING, "nothing held")
            gate = self.gate(group, rule, now)
            if not gate.passed:
                if gate.due is not None:
                    work.timers.append(TimerRequest(TimerKind.HOLD, group.key, gate.due))
                return Decision(Outcome.WAITING, gate.reason, timers=tuple(work.timers))
            self._open(work, group, rule, None, gate, now)
            outcome = Outcome.REOPENED if work.actions[0].kind is ActionKind.REOPEN else Outcome.OPENED
            return Decision(
                outcome, gate.reason, groups=tuple(work.changed.values()), actions=tuple(work.actions)
            )
        if not active or group.firing > 0 or group.quiet_since is None:
            return Decision(Outcome.NOTHING, "nothing to resolve")
        self._resolve_when_due(work, group, rule, now)
        outcome = Outcome.RESOLVED if work.actions else Outcome.WAITING
        return Decision(
            outcome,
            "",
            groups=tuple(work.changed.values()),
            actions=tuple(work.actions),
            timers=tuple(work.timers),
        )

    def _time(self, value: datetime | None) -> str:
        if value is None:
            return "?"
        local = value.astimezone(self.tz)
        return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "")

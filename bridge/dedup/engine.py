"""The pure rule engine: alert events and timers in, decisions out. No database, clock or network.

An alert event is classified against what is known about its fingerprint:
- a *new occurrence* (first sight, or a later start: it resolved and fired again),
- the *same occurrence* (a repeat, an update, its resolution),
- or *stale* (older than what is known: a late redelivery never rolls state back).
A new occurrence is routed by the matching rules into a group (`group_by`); a known occurrence
stays in its group. Before it joins, a maintenance window, a silence or an inhibiting alert may
hold it back (recorded, and decided again when that ends). A group opens an incident once its
gate passes (`threshold:` occurrences, then `for:` of unbroken firing), reopens its recently
resolved incident instead of opening a new one (`reopen_within`), resolves it once everything
stayed resolved for `resolve_after` (not while flapping), and a heartbeat rule opens one when
its alert stops coming. A resolved event of an occurrence bridge never saw fire is only recorded:
a recovery never pages. Waiting on time is expressed as timer requests; `on_timer` finishes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import Enum

from bridge.alert import Alert, Status
from bridge.dedup.evolve import evolve
from bridge.dedup.groups import Gate, GroupOps, Work, client_of, most_severe, origin_note
from bridge.dedup.merge import merge, merged_fingerprint
from bridge.dedup.rules import Action, Rule, RuleKind, RuleSet
from bridge.dedup.state import (
    EMPTY_CONTEXT,
    SUPPRESSIONS,
    AlertState,
    Context,
    Decision,
    Disposition,
    EffectKind,
    EngineTimer,
    GroupState,
    IncidentEffect,
    IncidentView,
    Member,
    Outcome,
    Routing,
    TimerRequest,
)
from bridge.dedup.storm import (
    STORM_KEY,
    Facts,
    distinct_hosts,
    hosts_at_least,
    shared_label,
    storm_title,
)
from bridge.dedup.storm import facts as storm_facts
from bridge.dedup.storm import joins as storm_joins
from bridge.dedup.storm import marked as storm_marked
from bridge.dedup.storm import step as storm_step
from bridge.dedup.suppression import Suppression, suppression_for
from bridge.timeutil import format_duration

_MAX_KEY = 240
_TIMES_KEPT = 10_000  # formatted instants remembered by an engine


_NOTHING_HELD = Decision(Outcome.NOTHING, "nothing held")


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


def _alert_state(
    alert: Alert,
    rule: Rule,
    key: str | None,
    disposition: Disposition,
    reason: str,
    incident: int | None,
    occurrences: int,
    suppressed_by: str | None = None,
    members: tuple[Member, ...] | None = None,
) -> AlertState:
    """The alert's state to keep: a reason unless it is in an incident, an incident only then."""
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
        suppressed_by=suppressed_by if disposition in SUPPRESSIONS else None,
        members=members or (),
    )


@dataclass(slots=True)
class _Draft:
    """The alert's next state while `Engine.decide` works it out. Its steps update the verdict
    (incident, disposition, reason) in place: one object per decision on the hot path, where
    returning the verdict from each step would build a tuple per step."""

    alert: Alert  # as decided: with the first word on when its occurrence began
    rule: Rule
    target: str | None
    members: tuple[Member, ...] | None
    occurrences: int
    incident: int | None
    disposition: Disposition
    reason: str

    @classmethod
    def start(
        cls,
        alert: Alert,
        rule: Rule,
        target: str | None,
        members: tuple[Member, ...] | None,
        known: AlertState | None,
        new_occurrence: bool,
    ) -> _Draft:
        """The verdict so far: what is known of this occurrence, or nothing yet of a new one."""
        occurrences = (known.occurrences if known else 0) + (1 if new_occurrence else 0)
        if known is None or new_occurrence:
            return cls(alert, rule, target, members, occurrences, None, Disposition.WAITING, "")
        if known.disposition in SUPPRESSIONS and alert.status is Status.FIRING:
            # held back until now: it enters as new
            return cls(alert, rule, target, members, occurrences, known.incident, Disposition.WAITING, "")
        return cls(alert, rule, target, members, occurrences, known.incident, known.disposition, known.reason)

    def state(self, disposition: Disposition, reason: str, suppressed_by: str | None = None) -> AlertState:
        """The alert's state with this disposition and reason, and the incident decided so far."""
        return _alert_state(
            self.alert,
            self.rule,
            self.target,
            disposition,
            reason,
            self.incident,
            self.occurrences,
            suppressed_by,
            self.members,
        )


class Engine:
    """Rules plus display settings. Every method is a pure function of its arguments."""

    def __init__(self, rules: RuleSet, tz: tzinfo = UTC) -> None:
        self.rules = rules
        self.tz = tz
        self.ops = GroupOps(rules, self._time)
        self._times: dict[datetime, str] = {}
        # The facts of the storm watch this engine last wrote (see `bridge.dedup.storm.Facts`):
        # replaced whole, never changed, so threads sharing the engine at worst recompute them.
        self._storm_facts: Facts | None = None
        self._storm_keys: tuple[str, ...] = (STORM_KEY,) if rules.storm is not None else ()

    # -- routing --------------------------------------------------------------------------------

    def identity(self, alert: Alert) -> str:
        """The fingerprint bridge keeps this alert's state under: its own, or the one `dedup_by`
        merges it into."""
        if not self.rules.dedup:
            return alert.fingerprint
        rule = self.rules.first_match(alert)
        return merged_fingerprint(rule, alert) if rule.dedup_by else alert.fingerprint

    def recoveries(self, alerts: Iterable[Alert]) -> set[str]:
        """The alerts (by `identity`) these events resolve. Those of one delivery are one moment:
        a recovery among them releases none of these (the pipeline's `Batch.decide_delivery`, the
        simulator's `delivering`)."""
        return {self.identity(a) for a in alerts if a.status is Status.RESOLVED}

    def first_route(self, alert: Alert) -> tuple[Rule, str | None]:
        """The rule that matches `alert` and the group it would go to (None: dropped): what
        `route` gives an alert it knows nothing of. A function of the alert and the rules alone,
        so a replay works it out ahead, in the process that reads the history (`route`'s `first`)."""
        rule = self.rules.first_match(alert)
        return rule, None if rule.action is Action.DROP else group_key(rule, alert)

    def route(
        self,
        alert: Alert,
        known: AlertState | None,
        now: datetime | None = None,
        first: tuple[Rule, str | None] | None = None,
    ) -> Routing | None:
        """The rule for this event and the group it belongs to; None for a stale member of a merged
        alert. A known occurrence keeps its group, so an incident never splits mid-way; a dropped
        alert is routed again on every event, so that an escalation (or a rule change) is not missed.
        `first` is `first_route(alert)` when the caller has it already."""
        members: tuple[Member, ...] | None = None
        if self.rules.dedup and not alert.fingerprint.startswith("dedup:"):
            rule = self.rules.first_match(alert)
            if rule.dedup_by:
                merged = merge(alert, known, rule, now or alert.received_at)
                if merged is None:
                    return None
                alert, members = merged
                first = None  # the merged alert is routed, not the one given
        if (
            known is not None
            and known.group_key is not None
            and known.disposition is not Disposition.DROPPED
            and classify(alert, known) is not EventClass.NEW
        ):
            return Routing(alert, self.rules.rule_named(known.rule), known.group_key, members)
        rule, target = self.first_route(alert) if first is None else first
        return Routing(alert, rule, target, members)

    # -- alert events ---------------------------------------------------------------------------

    def repeat(self, routing: Routing, known: AlertState | None) -> Decision | None:
        """`decide`'s answer when the event is a repeat (nothing new: see `_is_repeat`), which
        needs no group and no context; None when it is not, and `decide` must be asked. Most
        events of a storm are repeats: this spares gathering what they do not look at."""
        if known is None:
            return None
        alert = routing.alert
        event = classify(alert, known)
        if event is not EventClass.SAME or (
            routing.rule.kind is RuleKind.HEARTBEAT and routing.target is not None
        ):
            return None
        # (`decide` first gives a non-recurring alert the known start: nothing a repeat looks at)
        if self._is_repeat(alert, known, event, routing.target):
            return self._duplicate(known, routing.members)
        return None

    def plain_repeat(self, alert: Alert, known: AlertState | None) -> Decision | None:
        """``repeat(route(alert, known), known)`` when that is a duplicate that changes nothing (a
        repeat of an alert no `dedup_by` merges, which keeps its group); None otherwise, and the
        event must be routed. Most events of a storm are such repeats: this spares routing them."""
        if known is None or self.rules.dedup or known.group_key is None:
            return None
        if known.disposition is Disposition.DROPPED or classify(alert, known) is not EventClass.SAME:
            return None
        if self.rules.rule_named(known.rule).kind is RuleKind.HEARTBEAT:
            return None
        if self._is_repeat(alert, known, EventClass.SAME, known.group_key):
            return self._duplicate(known, None)
        return None

    def decide(
        self,
        routing: Routing,
        known: AlertState | None,
        groups: Mapping[str, GroupState],
        now: datetime,
        context: Context = EMPTY_CONTEXT,
    ) -> Decision:
        """Decide about one routed alert event. `groups` holds the states of the target group and of
        the group the alert is known in; a missing one has no state yet."""
        alert, rule, target = routing.alert, routing.rule, routing.target
        event = classify(alert, known)
        if event is EventClass.STALE:
            assert known is not None
            return self._stale(alert, known)
        if known is not None and not alert.recurring and alert.starts_at != known.starts_at:
            ends_at = None if alert.ends_at is None else max(alert.ends_at, known.starts_at)
            alert = evolve(
                alert, starts_at=known.starts_at, ends_at=ends_at
            )  # the first word on when it began
        if rule.kind is RuleKind.HEARTBEAT and target is not None:
            return self._heartbeat(alert, known, rule, target, groups, now, routing.members)
        if known is not None and self._is_repeat(alert, known, event, target):
            return self._duplicate(known, routing.members)

        firing = alert.status is Status.FIRING
        new_occurrence = event is EventClass.NEW
        draft = _Draft.start(alert, rule, target, routing.members, known, new_occurrence)
        work = Work(dict(groups))
        counted = known is not None and known.in_group
        storm = self._storm_counts(rule, target, firing)

        # 0. A storm recognised while this alert waited in its own group takes it.
        waiting = counted and known is not None and known.disposition is Disposition.WAITING
        if storm and waiting and self._regrouped(work, alert):
            target = draft.target = STORM_KEY

        # 1. It moved (re-routed after being dropped, or a new occurrence under other rules):
        #    the old occurrence is over as far as its old group is concerned.
        if counted and known is not None and known.group_key != target:
            self._leave_old_group(work, known, alert.starts_at, now)
            counted = False

        # 2. Dropped.
        if target is None:
            dropped = draft.state(Disposition.DROPPED, f"dropped by rule {rule.describe}")
            return self._finish(work, Outcome.DROPPED, dropped, known, rule)

        # 3. A recovery of an occurrence bridge never saw fire (a problem older than the
        #    installation, or whose firing was never delivered): recorded, never an incident.
        if not firing and new_occurrence:
            return self._unseen_recovery(work, draft, known, counted, now)

        # 4. Held back: maintenance, a silence, or an alert that explains it.
        if not counted and firing:
            held = suppression_for(self.rules, context, alert, now, self._time)
            if held is not None:
                return self._suppressed(work, draft, known, held)
        elif not firing and known is not None and known.disposition in SUPPRESSIONS:
            resolved = draft.state(known.disposition, f"{known.reason}; resolved", known.suppressed_by)
            return self._finish(work, Outcome.UPDATED, resolved, known, rule)

        # 5. It fires (a storm may take it, or make it wait the storm's grace).
        outcome = Outcome.UPDATED
        grace = False
        if storm and firing and not counted:
            target, grace = self._watch_storm(work, draft, now)
            draft.target = target
        if firing:
            outcome = self._enter_group(work, target, draft, known, new_occurrence, counted, now, grace)

        # 6. It resolved (it was counted in its group).
        elif counted:
            outcome = self._leave_resolved(work, target, draft, now)

        # 7. Someone did something about it in the source system.
        if alert.update is not None:
            self._note(work, target, alert, draft.incident)
        return self._finish(work, outcome, draft.state(draft.disposition, draft.reason), known, rule)

    @staticmethod
    def _is_repeat(alert: Alert, known: AlertState, event: EventClass, target: str | None) -> bool:
        """Nothing new: same occurrence, status, severity and group, no update, not held back."""
        return (
            event is EventClass.SAME
            and known.status is alert.status
            and known.severity is alert.severity
            and target == known.group_key
            and alert.update is None
            and known.disposition not in (Disposition.WAITING, *SUPPRESSIONS)
        )

    @staticmethod
    def _duplicate(known: AlertState, members: tuple[Member, ...] | None) -> Decision:
        """A repeat changes nothing but, for a merged alert, which raw alerts it holds."""
        if members is not None and members != known.members:
            return Decision(Outcome.DUPLICATE, known.describe(), alert=evolve(known, members=members))
        return Decision(Outcome.DUPLICATE, known.describe())

    def _leave_old_group(self, work: Work, known: AlertState, ended_at: datetime, now: datetime) -> None:
        """Take the known occurrence out of the group it was counted in, as ended at `ended_at`."""
        assert known.group_key is not None
        self.ops.leave(
            work,
            known.group_key,
            known.fingerprint,
            known.incident,
            known.disposition is Disposition.INCIDENT,
            ended_at,
            now,
        )

    def _enter_group(
        self,
        work: Work,
        target: str,
        draft: _Draft,
        known: AlertState | None,
        new_occurrence: bool,
        counted: bool,
        now: datetime,
        grace: bool = False,
    ) -> Outcome:
        """Count the firing alert in its group, then join the group's open incident or try its gate."""
        alert, rule = draft.alert, draft.rule
        group = work.groups.get(target) or GroupState.empty(target, rule.name, incident_title(rule, alert))
        group = self.ops.enter(work, group, alert, rule, new_occurrence, counted, now)
        if group.incident is not None and group.incident.active:
            return self._join_open_incident(work, target, group, group.incident, draft, known, new_occurrence)
        if new_occurrence or not counted or draft.disposition is Disposition.WAITING:
            return self._try_gate(work, target, group, draft, now, grace)
        return Outcome.UPDATED

    # -- storms ---------------------------------------------------------------------------------

    def _storm_counts(self, rule: Rule, target: str | None, firing: bool) -> bool:
        """Is this event one a storm may take (the rules watch for storms, the rule takes part)?"""
        return (
            firing
            and self.rules.storm is not None
            and rule.storm
            and rule.kind is RuleKind.ALERT
            and target is not None
            and target != STORM_KEY
        )

    def _regrouped(self, work: Work, alert: Alert) -> bool:
        """A waiting alert decided again because a storm was recognised: is it one of the storm's?"""
        group = work.groups.get(STORM_KEY)
        if group is None or group.firing == 0:
            return False
        if not any(e.fingerprint == alert.fingerprint for e in group.storm):
            return False
        work.put(evolve(group, storm=storm_marked(group.storm, {alert.fingerprint})))
        return True

    def _watch_storm(self, work: Work, draft: _Draft, now: datetime) -> tuple[str, bool]:
        """Note that this alert started; returns its group (the storm's, if it belongs to one) and
        whether it must wait the storm's grace before opening an incident of its own."""
        spec = self.rules.storm
        assert spec is not None and draft.target is not None
        alert, rule = draft.alert, draft.rule
        group = work.groups.get(STORM_KEY) or GroupState.empty(STORM_KEY, rule.name, "Alert storm")
        known = self._storm_facts
        if known is None or known.entries is not group.storm:
            known = storm_facts(group.storm)
        # `watch(recent(...))`; unless a storm goes on (its members stay whatever their age),
        # `recent` kept only the window's entries, and the one just added started now: the
        # entries are the window.
        # While a storm goes on, the alert most likely joins it: its entry (the last, `watch`
        # puts it there) is written as a member at once. Whether it joins does not depend on its
        # own entry's mark (`joins` looks at the others' marks, and at hosts), so when it does
        # not, the watch is stepped again with the entry unmarked.
        going_on = group.firing != 0
        entries, window, facts = storm_step(group, spec, alert, now, known, going_on)
        if not storm_joins(group, entries, spec, alert, now, window):
            if going_on:
                entries, window, facts = storm_step(group, spec, alert, now, known)
            work.put(evolve(group, storm=entries))
            self._storm_facts = facts
            return draft.target, hosts_at_least(window, 2)
        if going_on:  # it joins the storm going on, its entry marked already
            work.put(evolve(group, storm=entries))
            self._storm_facts = facts
            return STORM_KEY, False
        # recognised now: a new storm, and every host of the window is in it
        label = shared_label(window)
        members = {e.fingerprint for e in window}
        work.regroup.extend(sorted(members - {alert.fingerprint}))
        group = evolve(
            group,
            rule=rule.name,
            title=storm_title(window, spec, label),
            storm_label=label,
            occurrences=(),
            changes=(),
            flapping=False,
        )
        work.put(evolve(group, storm=storm_marked(entries, members)))
        return STORM_KEY, False

    def _join_open_incident(
        self,
        work: Work,
        target: str,
        group: GroupState,
        incident: IncidentView,
        draft: _Draft,
        known: AlertState | None,
        new_occurrence: bool,
    ) -> Outcome:
        """Attach the alert to its group's open incident, or tell the incident its severity changed."""
        alert, rule = draft.alert, draft.rule
        joined = draft.disposition is Disposition.INCIDENT and draft.incident == incident.number
        if new_occurrence or not joined:
            draft.incident = self.ops.attach(work, group, alert, rule)
            draft.disposition = Disposition.INCIDENT
            return Outcome.ATTACHED
        if known is not None and known.severity is not alert.severity:
            group = work.put(evolve(group, severity=most_severe(group.severity, alert)))
            work.effects.append(
                IncidentEffect(
                    EffectKind.ALERT_UPDATED,
                    target,
                    fingerprint=alert.fingerprint,
                    text=f"{alert.name}: severity {known.severity} -> {alert.severity}",
                )
            )
            self.ops.raise_priority(work, group, alert, rule)
        return Outcome.UPDATED

    def _try_gate(
        self, work: Work, target: str, group: GroupState, draft: _Draft, now: datetime, grace: bool = False
    ) -> Outcome:
        """Open (or reopen) the group's incident if its gate passes; else wait, with a timer for `for:`
        (or, when another host started alerting just before, the storm's grace)."""
        alert, rule = draft.alert, draft.rule
        gate = self.ops.gate(group, rule, now)
        if gate.passed and grace and self.rules.storm is not None:
            due = now + self.rules.storm.grace
            if now < due:
                hosts = distinct_hosts(work.groups[STORM_KEY].storm) if STORM_KEY in work.groups else 2
                within = format_duration(self.rules.storm.within)
                gate = Gate(
                    False,
                    f"possible alert storm ({hosts} hosts alerting within {within}): "
                    f"opens at {self._time(due)} unless a storm takes it",
                    due=due,
                )
        if gate.passed:
            why = f"rule {rule.describe}" + (f": {gate.reason}" if gate.reason else "")
            if target == STORM_KEY:
                why = f"{group.title}; first alert by {why}"
            group = self.ops.open(work, group, rule, alert, why, now)
            reopened = work.effects[-1].kind is EffectKind.REOPEN
            draft.incident = self.ops.attach(work, group, alert, rule)
            draft.disposition = Disposition.INCIDENT
            return Outcome.REOPENED if reopened else Outcome.OPENED
        draft.disposition, draft.reason = Disposition.WAITING, f"waiting: {gate.reason}"
        if gate.due is not None:
            work.timers.append(TimerRequest(EngineTimer.HOLD, target, gate.due))
        return Outcome.WAITING

    def _leave_resolved(self, work: Work, target: str, draft: _Draft, now: datetime) -> Outcome:
        """Take the resolved alert out of the group it was counted in: its incident's alert
        resolved, or a waiting one cleared before it opened one."""
        alert = draft.alert
        attached = draft.disposition is Disposition.INCIDENT
        self.ops.leave(
            work,
            target,
            alert.fingerprint,
            draft.incident,
            attached,
            min(alert.ends_at or now, now),
            now,
            note=origin_note(alert),
        )
        if attached:
            return Outcome.RESOLVED
        detail = draft.reason.removeprefix("waiting: ") or f"rule {draft.rule.describe}"
        draft.disposition = Disposition.CLEARED
        draft.reason = f"resolved before opening an incident ({detail})"
        return Outcome.CLEARED

    def _unseen_recovery(
        self, work: Work, draft: _Draft, known: AlertState | None, counted: bool, now: datetime
    ) -> Decision:
        """A resolved event of an occurrence bridge never saw fire: there is nothing left to act on,
        so it is only recorded. It counts towards no `threshold:` or `flapping:` and joins, opens or
        reopens no incident. The alert's previous occurrence, if still counted, ended by its start."""
        alert = draft.alert
        if counted and known is not None:
            self._leave_old_group(work, known, min(alert.starts_at, now), now)
        reason = f"resolved before bridge saw it fire (began {self._time(alert.starts_at)}): no incident"
        state = draft.state(Disposition.CLEARED, reason)
        return self._finish(work, Outcome.CLEARED, state, known, draft.rule)

    def _suppressed(self, work: Work, draft: _Draft, known: AlertState | None, held: Suppression) -> Decision:
        """Hold the alert back (a duplicate if already held so), asking to be decided again when that ends."""
        alert = draft.alert
        if (
            known is not None
            and known.suppressed_by == held.key
            and known.status is alert.status
            and known.disposition is held.disposition
        ):
            return Decision(Outcome.DUPLICATE, known.describe())
        if held.until is not None:
            work.timers.append(TimerRequest(EngineTimer.RELEASE, held.key, held.until))
        if held.related is not None and held.related.incident is not None:
            work.effects.append(
                IncidentEffect(
                    EffectKind.RELATED,
                    "",
                    incident=held.related.incident,
                    fingerprint=alert.fingerprint,
                    text=held.reason,
                )
            )
        outcome = Outcome.INHIBITED if held.disposition is Disposition.INHIBITED else Outcome.SUPPRESSED
        state = draft.state(held.disposition, held.reason, held.key)
        return Decision(
            outcome,
            state.describe(),
            alert=state,
            groups=tuple(work.changed.values()),  # the group it left, when it moved before being held
            effects=tuple(work.effects),
            timers=tuple(work.timers),
        )

    def _stale(self, alert: Alert, known: AlertState) -> Decision:
        when = known.ends_at if known.status is Status.RESOLVED else known.starts_at
        reason = f"ignored: older than what is known ({known.status} at {self._time(when)})"
        if alert.update is not None and known.group_key is not None:
            work = Work({})
            self._note(work, known.group_key, alert, known.incident)
            return Decision(Outcome.NOTED, reason, effects=tuple(work.effects))
        return Decision(Outcome.STALE, reason)

    def _finish(
        self, work: Work, outcome: Outcome, state: AlertState, known: AlertState | None, rule: Rule
    ) -> Decision:
        if rule.inhibits is not None and known is not None and known.in_group and not state.in_group:
            work.releases.append(
                f"inhibit:{state.fingerprint}"
            )  # it no longer explains the alerts it held back
        return Decision(
            outcome=outcome,
            reason=state.describe(),
            alert=state,
            groups=tuple(work.changed.values()),
            effects=tuple(work.effects),
            timers=tuple(work.timers),
            releases=tuple(work.releases),
            regroup=tuple(work.regroup),
        )

    def storm_keys(self) -> tuple[str, ...]:
        """Groups every alert decision needs besides its own: the storm watch, when storms are on."""
        return self._storm_keys

    def _note(self, work: Work, key: str, alert: Alert, incident: int | None) -> None:
        """What a person did about the alert in its source system becomes part of the incident's
        story; bridge's own write-back coming back as an update is not news."""
        update = alert.update
        assert update is not None
        if update.from_bridge:
            return
        source = alert.source.value
        who = update.user or "someone"
        text = f"{who} in {source.capitalize()}: {update.action}" + (
            f": {update.message}" if update.message else ""
        )
        work.effects.append(
            IncidentEffect(
                EffectKind.NOTE,
                key,
                incident=incident,
                fingerprint=alert.fingerprint,
                text=text,
                acknowledge=update.acknowledges,
                actor=f"{source}:{who}",
            )
        )

    # -- heartbeats -----------------------------------------------------------------------------

    def _heartbeat(
        self,
        alert: Alert,
        known: AlertState | None,
        rule: Rule,
        target: str,
        groups: Mapping[str, GroupState],
        now: datetime,
        members: tuple[Member, ...] | None,
    ) -> Decision:
        """A heartbeat checked in: note when, and resolve the "heartbeat lost" incident if open."""
        assert rule.every is not None
        occurrences = (known.occurrences if known else 0) + (
            1 if classify(alert, known) is EventClass.NEW else 0
        )
        every = format_duration(rule.every)
        if alert.status is Status.RESOLVED:  # only its absence counts, not what the source says of it
            state = _alert_state(
                alert,
                rule,
                target,
                Disposition.HEARTBEAT,
                f"heartbeat resolved in its source; bridge expects it every {every}",
                None,
                occurrences,
                members=members,
            )
            return Decision(Outcome.HEARTBEAT, state.describe(), alert=state)
        work = Work(dict(groups))
        group = work.groups.get(target) or GroupState.empty(target, rule.name, incident_title(rule, alert))
        last_seen = now if group.last_seen is None else max(group.last_seen, now)
        group = work.put(evolve(group, last_seen=last_seen, client=client_of(rule, alert) or group.client))
        if group.incident is not None and group.incident.active:
            work.effects.append(IncidentEffect(EffectKind.RESOLVE, target, text=f"{alert.name} is back"))
            work.put(evolve(group, incident=evolve(group.incident, active=False, resolved_at=now)))
        work.timers.append(TimerRequest(EngineTimer.HEARTBEAT, target, last_seen + rule.every))
        reason = (
            f"heartbeat seen at {self._time(now)}; expected again by {self._time(last_seen + rule.every)}"
        )
        state = _alert_state(
            alert, rule, target, Disposition.HEARTBEAT, reason, None, occurrences, members=members
        )
        return Decision(
            Outcome.HEARTBEAT,
            reason,
            alert=state,
            groups=tuple(work.changed.values()),
            effects=tuple(work.effects),
            timers=tuple(work.timers),
        )

    # -- timers ---------------------------------------------------------------------------------

    def idle_timer(self, kind: EngineTimer, group: GroupState) -> Decision | None:
        """`on_timer`'s answer when the group's own counts give it, whatever its incident (the
        caller need not look that up): a hold of a group with nothing firing ends in nothing, as
        most holds do. None: ask `on_timer`."""
        if kind is EngineTimer.HOLD and group.firing == 0:
            return _NOTHING_HELD  # most holds: what they waited for resolved before they ended
        return None

    def on_timer(self, kind: EngineTimer, group: GroupState, now: datetime) -> Decision:
        """A timer of `group` is due: open the held incident, resolve the quiet one, see whether a
        flapping group calmed down, or notice a heartbeat that did not come."""
        idle = self.idle_timer(kind, group)
        if idle is not None:
            return idle
        active = group.incident is not None and group.incident.active
        if kind is EngineTimer.HOLD and active:
            return _NOTHING_HELD  # the incident it held for is open already
        rule = self.rules.rule_named(group.rule)
        work = Work({group.key: group})
        if kind is EngineTimer.HOLD:
            gate = self.ops.gate(group, rule, now)
            if not gate.passed:
                if gate.due is not None:
                    work.timers.append(TimerRequest(EngineTimer.HOLD, group.key, gate.due))
                return Decision(Outcome.WAITING, gate.reason, timers=tuple(work.timers))
            self.ops.open(work, group, rule, None, f"rule {rule.describe}: {gate.reason}", now)
        elif kind is EngineTimer.RESOLVE:
            if not active or group.firing > 0 or group.quiet_since is None or group.flapping:
                return Decision(Outcome.NOTHING, "nothing to resolve")
            self.ops.resolve_when_due(work, group, rule, now)
        elif kind is EngineTimer.FLAPPING:
            if rule.flapping is None or not group.flapping:
                return Decision(Outcome.NOTHING, "not flapping")
            self.ops.check_flapping(work, group, rule, now)
        elif kind is EngineTimer.HEARTBEAT:
            if rule.every is None or group.last_seen is None or active:
                return Decision(Outcome.NOTHING, "no heartbeat expected")
            due = group.last_seen + rule.every
            if now < due:
                return Decision(
                    Outcome.WAITING, "heartbeat not due", timers=(TimerRequest(kind, group.key, due),)
                )
            why = (
                f"rule {rule.describe}: no {group.title} since {self._time(group.last_seen)} "
                f"(expected every {format_duration(rule.every)})"
            )
            self.ops.open(work, group, rule, None, why, now, title=f"Heartbeat lost: {group.title}")
        else:
            return Decision(Outcome.NOTHING, f"{kind} timers are not a group's")
        outcomes = {
            EffectKind.OPEN: Outcome.OPENED,
            EffectKind.REOPEN: Outcome.REOPENED,
            EffectKind.RESOLVE: Outcome.RESOLVED,
        }
        outcome = next(
            (outcomes[a.kind] for a in work.effects if a.kind in outcomes),
            Outcome.UPDATED if work.effects else Outcome.WAITING,
        )
        return Decision(
            outcome,
            "",
            groups=tuple(work.changed.values()),
            effects=tuple(work.effects),
            timers=tuple(work.timers),
        )

    def _time(self, value: datetime | None) -> str:
        if value is None:
            return "?"
        if value.tzinfo is not UTC:  # a local time in a DST fold equals its twin; say each as is
            local = value.astimezone(self.tz)
            return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "")
        # Reasons name the same instants over and over (a delivery's time, a timer's due time):
        # strftime was a tenth of a replay's deciding. Equal UTC instants read the same in self.tz.
        text = self._times.get(value)
        if text is None:
            if len(self._times) >= _TIMES_KEPT:
                self._times.clear()
            local = value.astimezone(self.tz)
            text = self._times[value] = _wall_time(local)
        return text


def _wall_time(local: datetime) -> str:
    """``local.strftime("%Y-%m-%d %H:%M:%S ") + tzname``, at less than two thirds of its cost: a
    replay formats a new instant for nearly every alert it holds (when it fires, when it opens)."""
    if local.year < 1000:  # strftime does not pad such a year to four digits
        return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "")
    return "%04d-%02d-%02d %02d:%02d:%02d " % (  # noqa: UP031 - the fastest of the three forms
        local.year,
        local.month,
        local.day,
        local.hour,
        local.minute,
        local.second,
    ) + (local.tzname() or "")

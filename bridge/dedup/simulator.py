"""Run the engine over alerts entirely in memory: incidents, timers and all, with simulated time.

This is what `bridge rules test` and `bridge rules replay` stand on, and what the property tests
drive. It applies decisions the way `bridge.pipeline` does against the database (a cross-check
test holds the two to the same results), minus operators: nobody acknowledges or closes here.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Iterator, Set
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.alert import Alert, Status
from bridge.dedup.engine import Engine
from bridge.dedup.evolve import evolve
from bridge.dedup.rules import Rule
from bridge.dedup.state import (
    AlertState,
    Context,
    Decision,
    Disposition,
    EffectKind,
    EngineTimer,
    GroupState,
    IncidentEffect,
    IncidentView,
    Outcome,
    Routing,
    Silence,
)
from bridge.dedup.suppression import InhibitorIndex
from bridge.priority import Priority

_TIMER_KINDS = {kind.value: kind for kind in EngineTimer}


@dataclass
class SimIncident:
    number: int
    group_key: str
    rule: str
    title: str
    priority: Priority
    status: str
    opened_at: datetime
    first_alert_at: datetime
    resolved_at: datetime | None = None
    reopen_count: int = 0
    alerts: set[str] = field(default_factory=set)
    related: set[str] = field(default_factory=set)
    occurrences: int = 0
    flapping: bool = False
    route: str | None = None
    client: str | None = None
    timeline: list[tuple[datetime, str, str]] = field(default_factory=list)
    step: tuple[Any, ...] = ()  # where in the input it opened (see Simulator.position)

    @property
    def active(self) -> bool:
        return self.status in ("open", "acknowledged")


class Simulator:
    """Feed alerts in arrival order with the time they arrived; timers fire as time passes."""

    def __init__(self, engine: Engine, silences: tuple[Silence, ...] = ()) -> None:
        self.engine = engine
        self.silences = silences
        self.alerts: dict[str, AlertState] = {}
        # suppressed_by key -> the alerts whose state names it: what ends with a window, a silence
        # or an inhibiting alert is found without walking every alert ever seen.
        self._held_by: dict[str, set[str]] = {}
        self.events: dict[str, Alert] = {}  # the last event of each held or inhibiting alert
        self.groups: dict[str, GroupState] = {}
        # key -> (stored group, what its incident was when viewed, or None: not checked yet, view)
        self._views: dict[str, tuple[GroupState, tuple[object, ...] | None, GroupState]] = {}
        self.members: dict[str, set[str]] = {}
        self.group_incident: dict[str, int] = {}
        self.incidents: list[SimIncident] = []
        self.outcomes: Counter[Outcome] = Counter()
        self.inhibitors = InhibitorIndex()
        self._last_context: Context | None = None
        # For replay figures: the alert occurrences (fingerprint, occurrence number) that reached an
        # incident, and how many occurrences joined an incident while it was flapping.
        self.reached: set[tuple[str, int]] = set()
        self.flapping_attached = 0
        self._timers: dict[tuple[EngineTimer, str], datetime] = {}
        self._queue: list[tuple[datetime, str, str]] = []
        self.now: datetime | None = None
        # Where in its input the caller is: (delivery number, alert number within it). Each
        # incident records the step that opened it, so incidents opened by simulators that each
        # took a share of one history (hosts split across processes) merge back into the order
        # one simulator would have opened them in, even when they opened in the same instant.
        self.position: tuple[int, int] = (0, 0)
        self._step: tuple[Any, ...] = ()
        self.resolving: set[str] = set()
        """Alerts whose recovery the delivery being fed brings and that are not fed yet
        (`delivering`): an inhibiting alert's recovery in the same delivery leaves them held."""

    # -- input ----------------------------------------------------------------------------------

    def feed(
        self, alert: Alert, now: datetime | None = None, first: tuple[Rule, str | None] | None = None
    ) -> Decision:
        """Process one alert event received at `now` (default: its received_at); `first` is the
        engine's `first_route(alert)` when the caller worked it out ahead."""
        now = now or alert.received_at
        self.tick(now)
        self._step = (*self.position, 1)
        if self.resolving:
            self.resolving.discard(self.engine.identity(alert))
        return self._decide(alert, now, first)

    @contextmanager
    def delivering(self, alerts: Iterable[Alert]) -> Iterator[None]:
        """Feed the alerts of one delivery within this, once time has reached it (`tick`). A
        delivery is one moment, as the database pipeline decides it (`Batch.decide_delivery`):
        an alert it resolves together with the alert that held it back is not released by that
        recovery (it would fire and resolve at once); its own event records it resolved, held."""
        self.resolving = self.engine.recoveries(alerts)
        try:
            yield
        finally:
            self.resolving = set()

    def tick(self, now: datetime) -> None:
        """Time reached `now` with a delivery that is not this simulator's to decide (or just
        before one that is): fire the timers due before it."""
        if self._queue and self._queue[0][0] < now:  # a delivery at the instant a timer is due goes first
            self._fire_timers(now, inclusive=False)
        if self.now is None or now > self.now:
            self.now = now

    def advance(self, now: datetime) -> None:
        """Let time pass to `now`, firing every timer due by then in due order."""
        self._fire_timers(now, inclusive=True)
        self.now = now if self.now is None or now > self.now else self.now

    def cancel_timers(self, kind: EngineTimer, after: datetime) -> None:
        """Forget the timers of `kind` due after `after` (a replay's history ends there: a
        heartbeat due later was not lost, the record just stops)."""
        for timer, due in list(self._timers.items()):
            if timer[0] is kind and due > after:
                del self._timers[timer]  # its queue entry no longer matches and is skipped

    def _decide(self, alert: Alert, now: datetime, first: tuple[Rule, str | None] | None = None) -> Decision:
        identity = self.engine.identity(alert)
        known = self.alerts.get(identity)
        repeated = self.engine.plain_repeat(alert, known)
        if repeated is not None:  # a duplicate changes nothing: `_apply` would only count it
            self.outcomes[repeated.outcome] += 1
            return repeated
        routing = self.engine.route(alert, known, now, first)
        if routing is None:
            stale = Decision(Outcome.STALE, "older than what is known of this member")
            self.outcomes[stale.outcome] += 1
            return stale
        decision = self.engine.repeat(routing, known)
        if decision is None:
            decision = self.engine.decide(
                routing, known, self._groups_for(routing, known), now, self._context()
            )
        if decision.alert is None:
            self._apply(decision, now, self.resolving)
            return decision
        fingerprint = decision.alert.fingerprint
        self.events[fingerprint] = routing.alert
        self._apply(decision, now, self.resolving)
        state = self.alerts[fingerprint]
        regroupable = self.engine.storm_keys() and state.disposition is Disposition.WAITING
        if (
            state.suppressed_by is None
            and not regroupable
            and self.engine.rules.rule_named(state.rule).inhibits is None
        ):
            # Only a held alert is decided again (on release), a waiting one when a storm is
            # recognised, and only an inhibiting one is indexed from its event: keeping every
            # alert's last event made a long replay's memory, and its time, grow with every
            # alert it had seen.
            self.events.pop(fingerprint, None)
        return decision

    def _groups_for(self, routing: Routing, known: AlertState | None) -> dict[str, GroupState]:
        """The states of the groups a decision looks at: its target's, the one the alert is known
        in, the storm watch (those that have a state)."""
        groups: dict[str, GroupState] = {}
        stored = self.groups
        for key in (routing.target, known.group_key if known else None, *self.engine.storm_keys()):
            if key is not None and key not in groups and key in stored:
                groups[key] = self._view(key)
        return groups

    def _context(self) -> Context:
        context = self._last_context
        if (
            context is None
            or context.silences is not self.silences
            or context.inhibitors is not self.inhibitors.index
        ):
            # the index is changed in place: one context serves until either is replaced
            context = self._last_context = Context(silences=self.silences, inhibitors=self.inhibitors.index)
        return context

    def _fire_timers(self, now: datetime, *, inclusive: bool) -> None:
        while self._queue and (self._queue[0][0] <= now if inclusive else self._queue[0][0] < now):
            due, kind_text, key = heapq.heappop(self._queue)
            kind = _TIMER_KINDS[kind_text]  # not EngineTimer(kind_text): an enum call per timer
            if self._timers.get((kind, key)) != due:
                continue  # replaced by a later request
            del self._timers[(kind, key)]
            self.now = due
            self._step = (*self.position, 0, due, kind_text, key, "")
            if kind is EngineTimer.RELEASE:
                self._release(key, due, frozenset())  # not the delivery's doing: every held alert
            elif key in self.groups:
                idle = self.engine.idle_timer(kind, self.groups[key])
                if idle is not None:  # known without viewing the group with its incident
                    self.outcomes[idle.outcome] += 1
                    continue
                decision = self.engine.on_timer(kind, self._view(key), due)
                if decision.alert is None and not (
                    decision.groups
                    or decision.effects
                    or decision.timers
                    or decision.releases
                    or decision.regroup
                ):
                    self.outcomes[decision.outcome] += 1  # all `_apply` does with an empty decision
                else:
                    self._apply(decision, due)

    def _release(self, key: str, now: datetime, resolving: Set[str]) -> None:
        """What held alerts back ended: decide again those still firing, but the `resolving`."""
        states = (self.alerts[fingerprint] for fingerprint in self._held_by.get(key, ()))
        held = [s for s in states if s.status is Status.FIRING and s.fingerprint not in resolving]
        timer_step = self._step
        for state in sorted(held, key=lambda s: s.fingerprint):
            event = self.events.get(state.fingerprint)
            if event is not None:
                if timer_step[-1:] == ("",):
                    # A window or silence ended (a timer's step, naming no alert yet): each
                    # alert it releases is a step of its own.
                    self._step = (*timer_step[:-1], state.fingerprint)
                self._decide(evolve(event, received_at=now, update=None), now)
        self._step = timer_step

    # -- state ----------------------------------------------------------------------------------

    def _view(self, key: str) -> GroupState:
        group = self.groups[key]
        number = self.group_incident.get(key)
        if number is None:
            return group
        incident = self.incidents[number - 1]
        if incident.status == "closed":
            return group
        seen = (number, incident.status, incident.priority, incident.resolved_at)
        cached = self._views.get(key)
        if cached is not None and cached[0] is group:
            if cached[1] == seen:
                return cached[2]  # a group is looked at on every event; most events change nothing
            decided = cached[2].incident
            if (
                cached[1] is None
                and decided is not None
                and decided.number == number
                and decided.active == incident.active
                and decided.priority == incident.priority
                and decided.resolved_at == incident.resolved_at
            ):  # the group as its last decision left it says what the incident says now
                self._views[key] = (group, seen, cached[2])
                return cached[2]
        view = evolve(
            group, incident=IncidentView(number, incident.active, incident.priority, incident.resolved_at)
        )
        self._views[key] = (group, seen, view)
        return view

    def _apply(self, decision: Decision, now: datetime, resolving: Set[str] = frozenset()) -> None:
        """What the database store does with a decision, in memory; what it releases, but the
        `resolving` (those of a delivery's decision: `delivering`)."""
        self.outcomes[decision.outcome] += 1
        subject = decision.alert.fingerprint if decision.alert else None
        if decision.alert is not None:
            self._record_alert(decision.alert)
        for group in decision.groups:  # the incident's state lives in self.incidents
            if group.incident is None:
                self.groups[group.key] = group
            else:
                stored = self.groups[group.key] = evolve(group, incident=None)
                # the next view of it is likely this very group: `_view` checks the incident
                self._views[group.key] = (stored, None, group)
        for effect in decision.effects:
            self._apply_effect(effect, subject, now)
        if decision.alert is not None:
            self._track_inhibitor(self.alerts[decision.alert.fingerprint])
        for timer in decision.timers:
            self._queue_timer(timer.kind, timer.key, timer.due)
        for key in decision.releases:
            self._release(key, now, resolving)
        if decision.regroup:
            self._regroup(decision.regroup, now)

    def _queue_timer(self, kind: EngineTimer, key: str, due: datetime) -> None:
        """The timer `kind` of `key` is due at `due` (replacing any earlier request)."""
        if self._timers.get((kind, key)) == due:
            # asked again for when it is due already (a flapping group's every change, every
            # alert of a waiting group): its queue entry stands, another would be skipped
            return
        self._timers[(kind, key)] = due
        heapq.heappush(self._queue, (due, kind.value, key))

    def _regroup(self, fingerprints: tuple[str, ...], now: datetime) -> None:
        """A storm was recognised: decide again the alerts of its window still waiting."""
        for fingerprint in fingerprints:
            state = self.alerts.get(fingerprint)
            event = self.events.get(fingerprint)
            if (
                state is not None
                and event is not None
                and state.status is Status.FIRING
                and state.disposition is Disposition.WAITING
            ):
                self._decide(evolve(event, received_at=now, update=None), now)

    def _record_alert(self, state: AlertState) -> None:
        """The alert's new state, and the group it is a member of now."""
        old = self.alerts.get(state.fingerprint)
        if old is not None and old.group_key and old.group_key != state.group_key:
            self.members.get(old.group_key, set()).discard(state.fingerprint)
        if state.group_key:
            self.members.setdefault(state.group_key, set()).add(state.fingerprint)
        self._store(state)

    def _store(self, state: AlertState) -> None:
        """Keep `state` as its alert's, and the index of what holds alerts back in step."""
        old = self.alerts.get(state.fingerprint)
        if old is not None and old.suppressed_by is not None and old.suppressed_by != state.suppressed_by:
            held = self._held_by[old.suppressed_by]
            held.discard(state.fingerprint)
            if not held:
                del self._held_by[old.suppressed_by]
        if state.suppressed_by is not None:
            self._held_by.setdefault(state.suppressed_by, set()).add(state.fingerprint)
        self.alerts[state.fingerprint] = state

    def _apply_effect(self, effect: IncidentEffect, subject: str | None, now: datetime) -> None:
        """One effect of a decision on the group's incident (or a new one)."""
        if effect.kind is EffectKind.OPEN:
            self._open(effect, subject, now)
            return
        number = effect.incident or self.group_incident.get(effect.group_key)
        if number is None:
            return
        incident = self.incidents[number - 1]
        kind = effect.kind
        if kind is EffectKind.REOPEN:
            incident.status, incident.resolved_at = "open", None
            incident.reopen_count += 1
            incident.flapping = incident.flapping or effect.flapping
            self._log(number, now, "reopened", effect.text)
            self._attach_members(number, effect.group_key, exclude=subject)
        elif kind is EffectKind.ATTACH and effect.fingerprint:
            self._attach(incident, effect.fingerprint, now)
        elif kind is EffectKind.RAISE_PRIORITY and effect.priority:
            self._log(number, now, "priority", f"{incident.priority} -> {effect.priority}: {effect.text}")
            incident.priority = effect.priority
        elif kind is EffectKind.RESOLVE and incident.active:
            incident.status, incident.resolved_at = "resolved", now
            self._log(number, now, "resolved", effect.text)
        elif kind is EffectKind.RELATED and effect.fingerprint:
            incident.related.add(effect.fingerprint)
            self._log(number, now, "related", effect.fingerprint)
        elif kind in (EffectKind.FLAPPING_STARTED, EffectKind.FLAPPING_ENDED):
            incident.flapping = kind is EffectKind.FLAPPING_STARTED
            self._log(number, now, kind.value, effect.text)
        elif kind in (EffectKind.ALERT_RESOLVED, EffectKind.ALERT_UPDATED, EffectKind.NOTE):
            self._log(number, now, kind.value, effect.text or (effect.fingerprint or ""))

    def _open(self, effect: IncidentEffect, subject: str | None, now: datetime) -> None:
        group = self.groups[effect.group_key]
        number = len(self.incidents) + 1
        self.incidents.append(
            SimIncident(
                number,
                group.key,
                group.rule,
                effect.title,
                effect.priority or Priority.P3,
                "open",
                opened_at=now,
                first_alert_at=group.firing_since or now,
                flapping=effect.flapping,
                route=effect.route,
                client=effect.client,
                step=self._step,
            )
        )
        self.group_incident[group.key] = number
        self._log(number, now, "opened", effect.text)
        self._attach_members(number, group.key, exclude=subject)

    def _track_inhibitor(self, state: AlertState) -> None:
        """Keep the index of alerts that inhibit others in step with this alert's new state."""
        event = self.events.get(state.fingerprint)
        if event is not None:
            self.inhibitors.update(self.engine.rules.rule_named(state.rule), state, event)

    def _attach_members(self, number: int, key: str, exclude: str | None) -> None:
        """Attach every firing alert of the group not yet in this incident (OPEN / REOPEN); the alert
        that triggered the decision (`exclude`) is attached by its own ATTACH action."""
        incident = self.incidents[number - 1]
        for fingerprint in sorted(self.members.get(key, ())):
            if fingerprint == exclude:
                continue
            state = self.alerts[fingerprint]
            if state.status is Status.FIRING and state.disposition in (
                Disposition.WAITING,
                Disposition.INCIDENT,
            ):
                if state.disposition is Disposition.INCIDENT and state.incident == number:
                    continue
                self._attach(incident, fingerprint, self.now or incident.opened_at)

    def _attach(self, incident: SimIncident, fingerprint: str, now: datetime) -> None:
        """An occurrence of the alert joins the incident: one more occurrence, maybe one more alert."""
        state = self.alerts.get(fingerprint)
        if state is not None and (
            state.incident != incident.number or state.disposition is not Disposition.INCIDENT
        ):
            self._store(evolve(state, disposition=Disposition.INCIDENT, incident=incident.number, reason=""))
        current = self.alerts.get(fingerprint)
        if current is not None:
            self.reached.add((fingerprint, current.occurrences))
        if incident.flapping:
            self.flapping_attached += 1
        fresh = fingerprint not in incident.alerts
        incident.alerts.add(fingerprint)
        incident.occurrences += 1
        self._track_inhibitor(
            self.alerts[fingerprint]
        )  # an inhibiting alert now has an incident to relate to
        self._log(incident.number, now, "alert" if fresh else "alert_fired", fingerprint)

    def _log(self, number: int, at: datetime, kind: str, text: str) -> None:
        self.incidents[number - 1].timeline.append((at, kind, text))

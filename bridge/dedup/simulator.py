"""Run the engine over alerts entirely in memory: incidents, timers and all, with simulated time.

This is what `bridge rules test` and `bridge rules replay` stand on, and what the property tests
drive. It applies decisions the way `bridge.pipeline` does against the database (a cross-check
test holds the two to the same results), minus operators: nobody acknowledges or closes here.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime

from bridge.alert import Alert, Status
from bridge.dedup.engine import Engine
from bridge.dedup.state import (
    ActionKind,
    AlertState,
    Decision,
    Disposition,
    GroupState,
    IncidentView,
    Outcome,
    TimerKind,
)
from bridge.priority import Priority


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
    occurrences: int = 0
    timeline: list[tuple[datetime, str, str]] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status in ("open", "acknowledged")


class Simulator:
    """Feed alerts in arrival order with the time they arrived; timers fire as time passes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.alerts: dict[str, AlertState] = {}
        self.groups: dict[str, GroupState] = {}
        self.members: dict[str, set[str]] = {}
        self.group_incident: dict[str, int] = {}
        self.incidents: list[SimIncident] = []
        self.outcomes: Counter[Outcome] = Counter()
        self._timers: dict[tuple[TimerKind, str], datetime] = {}
        self._queue: list[tuple[datetime, str, str]] = []
        self.now: datetime | None = None

    # -- input ----------------------------------------------------------------------------------

    def feed(self, alert: Alert, now: datetime | None = None) -> Decision:
        """Process one alert event received at `now` (default: its received_at)."""
        now = now or alert.received_at
        self._fire_timers(now, inclusive=False)  # a delivery at the very instant a timer is due goes first
        if self.now is None or now > self.now:
            self.now = now
        known = self.alerts.get(alert.fingerprint)
        rule, target = self.engine.route(alert, known)
        keys = {k for k in (target, known.group_key if known else None) if k is not None}
        decision = self.engine.decide(
            alert, known, rule, target, {k: self._view(k) for k in keys if k in self.groups}, now
        )
        self._apply(decision, now)
        return decision

    def advance(self, now: datetime) -> None:
        """Let time pass to `now`, firing every timer due by then in due order."""
        self._fire_timers(now, inclusive=True)
        self.now = now if self.now is None or now > self.now else self.now

    def _fire_timers(self, now: datetime, *, inclusive: bool) -> None:
        while self._queue and (self._queue[0][0] <= now if inclusive else self._queue[0][0] < now):
            due, kind_text, key = heapq.heappop(self._queue)
            kind = TimerKind(kind_text)
            if self._timers.get((kind, key)) != due:
                continue  # replaced by a later request
            del self._timers[(kind, key)]
            self.now = due
            if key in self.groups:
                self._apply(self.engine.on_timer(kind, self._view(key), due), due)

    # -- state ----------------------------------------------------------------------------------

    def _view(self, key: str) -> GroupState:
        group = self.groups[key]
        number = self.group_incident.get(key)
        if number is None:
            return group
        incident = self.incidents[number - 1]
        if incident.status == "closed":
            return replace(group, incident=None)
        view = IncidentView(number, incident.active, incident.priority, incident.resolved_at)
        return replace(group, incident=view)

    def _apply(self, decision: Decision, now: datetime) -> None:
        self.outcomes[decision.outcome] += 1
        if decision.alert is not None:
            state = decision.alert
            old = self.alerts.get(state.fingerprint)
            if old is not None and old.group_key and old.group_key != state.group_key:
                self.members.get(old.group_key, set()).discard(state.fingerprint)
            if state.group_key:
                self.members.setdefault(state.group_key, set()).add(state.fingerprint)
            self.alerts[state.fingerprint] = state
        for group in decision.groups:
            self.groups[group.key] = replace(group, incident=None)
        for action in decision.actions:
            number = action.incident or self.group_incident.get(action.group_key)
            if action.kind is ActionKind.OPEN:
                group = self.groups[action.group_key]
                number = len(self.incidents) + 1
                self.incidents.append(
                    SimIncident(
                        number,
                        group.key,
                        group.rule,
                        action.title,
                        action.priority or Priority.P3,
                        "open",
                        opened_at=now,
                        first_alert_at=group.firing_since or now,
                    )
                )
                self.group_incident[group.key] = number
                self._log(number, now, "opened", action.text)
                self._attach_members(number, group.key, exclude=self._subject(decision))
                continue
            if number is None:
                continue
            incident = self.incidents[number - 1]
            if action.kind is ActionKind.REOPEN:
                incident.status, incident.resolved_at = "open", None
                incident.reopen_count += 1
                self._log(number, now, "reopened", action.text)
                self._attach_members(number, action.group_key, exclude=self._subject(decision))
            elif action.kind is ActionKind.ATTACH and action.fingerprint:
                self._attach(incident, action.fingerprint, now)
            elif action.kind is ActionKind.RAISE_PRIORITY and action.priority:
                self._log(number, now, "priority", f"{incident.priority} -> {action.priority}: {action.text}")
                incident.priority = action.priority
            elif action.kind is ActionKind.RESOLVE and incident.active:
                incident.status, incident.resolved_at = "resolved", now
                self._log(number, now, "resolved", action.text)
            elif action.kind in (ActionKind.ALERT_RESOLVED, ActionKind.ALERT_UPDATED, ActionKind.NOTE):
                self._log(number, now, action.kind.value, action.text or (action.fingerprint or ""))
        for timer in decision.timers:
            self._timers[(timer.kind, timer.key)] = timer.due
            heapq.heappush(self._queue, (timer.due, timer.kind.value, timer.key))

    @staticmethod
    def _subject(decision: Decision) -> str | None:
        return decision.alert.fingerprint if decision.alert else None

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
            self.alerts[fingerprint] = replace(
                state, disposition=Disposition.INCIDENT, incident=incident.number, reason=""
            )
        fresh = fingerprint not in incident.alerts
        incident.alerts.add(fingerprint)
        incident.occurrences += 1
        self._log(incident.number, now, "alert" if fresh else "alert_fired", fingerprint)

    def _log(self, number: int, at: datetime, kind: str, text: str) -> None:
        self.incidents[number - 1].timeline.append((at, kind, text))

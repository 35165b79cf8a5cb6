"""The engine's view of the world and what it decides: frozen values, no I/O.

`AlertState` is what bridge knows about one alert (fingerprint), `GroupState` about one group
of alerts that share an incident. A `Decision` says how both change and what must happen to the
group's incident; `bridge.pipeline` loads the states, asks the engine and applies the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bridge.alert import Severity, Status
from bridge.priority import Priority


class Disposition(StrEnum):
    """Where an alert stands, as shown in /api/alerts."""

    DROPPED = "dropped"  # a rule dropped it: recorded, never an incident
    WAITING = "waiting"  # firing, held back by `for:` or `threshold:`
    INCIDENT = "incident"  # part of an incident
    CLEARED = "cleared"  # resolved before it ever opened an incident


class Outcome(StrEnum):
    """What one event did (for metrics, logs and replay summaries)."""

    DROPPED = "dropped"
    WAITING = "waiting"
    OPENED = "opened"
    REOPENED = "reopened"
    ATTACHED = "attached"
    UPDATED = "updated"
    RESOLVED = "resolved"
    CLEARED = "cleared"
    NOTED = "noted"
    DUPLICATE = "duplicate"
    STALE = "stale"
    NOTHING = "nothing"


@dataclass(frozen=True, slots=True)
class AlertState:
    fingerprint: str
    status: Status
    starts_at: datetime  # start of the current occurrence
    ends_at: datetime | None
    severity: Severity
    rule: str
    group_key: str | None  # None when dropped
    disposition: Disposition
    reason: str  # why, for every disposition but INCIDENT (see `describe`)
    incident: int | None  # number of the incident it belongs to; None while that one is being opened
    occurrences: int  # distinct occurrences seen (fires, resolves, fires again: 2)

    def describe(self) -> str:
        """The reason shown to people."""
        return describe_alert(self.disposition, self.reason, self.incident, self.rule, self.status)


def describe_alert(
    disposition: Disposition, reason: str, incident: int | None, rule: str, status: Status
) -> str:
    """Why an alert stands where it does, e.g. "attached to incident 17 by rule host-down"."""
    if disposition is Disposition.INCIDENT:
        where = f"incident {incident}" if incident is not None else "a new incident"
        tail = " (resolved)" if status is Status.RESOLVED else ""
        return f"attached to {where} by rule {rule}{tail}"
    return reason


@dataclass(frozen=True, slots=True)
class IncidentView:
    """The group's current incident as the engine needs it; a closed incident is no incident."""

    number: int | None  # None: being opened by the decision at hand
    active: bool  # open or acknowledged
    priority: Priority
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class GroupState:
    key: str
    rule: str
    title: str
    firing: int  # alerts of the group firing now
    firing_since: datetime | None  # start of the current unbroken stretch with something firing
    quiet_since: datetime | None  # when the last firing alert resolved
    occurrences: tuple[datetime, ...]  # starts of the latest occurrences, for `threshold:`
    incident: IncidentView | None
    severity: Severity | None = None  # the most severe alert of the current firing stretch

    @classmethod
    def empty(cls, key: str, rule: str, title: str) -> GroupState:
        return cls(key, rule, title, 0, None, None, (), None, None)


class ActionKind(StrEnum):
    OPEN = "open"  # open a new incident for the group, attaching its waiting alerts
    REOPEN = "reopen"  # reopen the group's resolved incident, attaching its waiting alerts
    ATTACH = "attach"  # this alert's current occurrence joins the group's incident
    ALERT_UPDATED = "alert_updated"  # same occurrence, something changed (severity)
    ALERT_RESOLVED = "alert_resolved"
    RAISE_PRIORITY = "raise_priority"
    RESOLVE = "resolve"  # every alert stayed resolved for resolve_after
    NOTE = "note"  # a person did something in the source system (Zabbix ack, comment...)


@dataclass(frozen=True, slots=True)
class IncidentAction:
    kind: ActionKind
    group_key: str
    incident: int | None = None  # None: the group's current incident
    fingerprint: str | None = None
    priority: Priority | None = None
    title: str = ""
    text: str = ""
    acknowledge: bool = False  # NOTE: the person acknowledged the problem in the source
    actor: str = ""  # NOTE: who, in the source


class TimerKind(StrEnum):
    HOLD = "hold"  # re-check a group held by `for:`
    RESOLVE = "resolve"  # resolve a quiet group's incident after resolve_after


@dataclass(frozen=True, slots=True)
class TimerRequest:
    kind: TimerKind
    key: str
    due: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    alert: AlertState | None = None  # the alert's new state; None when unchanged
    groups: tuple[GroupState, ...] = ()  # groups whose state changed
    actions: tuple[IncidentAction, ...] = ()
    timers: tuple[TimerRequest, ...] = ()

"""The engine's view of the world and what it decides: frozen values, no I/O.

`AlertState` is what bridge knows about one alert (fingerprint), `GroupState` about one group
of alerts that share an incident. A `Decision` says how both change and what must happen to the
group's incident; `bridge.pipeline` loads the states, asks the engine and applies the decision.
`Context` is the part of the world that changes at run time but is not an alert's or a group's
state: the silences people created and the alerts that inhibit others right now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from bridge.alert import Alert, Severity, Status
from bridge.dedup.evolve import quick_init
from bridge.priority import Priority

if TYPE_CHECKING:
    from bridge.dedup.matchers import Matcher
    from bridge.dedup.rules import Rule


class Disposition(StrEnum):
    """Where an alert stands, as shown in /api/alerts."""

    DROPPED = "dropped"  # a rule dropped it: recorded, never an incident
    WAITING = "waiting"  # firing, held back by `for:` or `threshold:`
    INCIDENT = "incident"  # part of an incident
    CLEARED = "cleared"  # resolved before it ever opened an incident
    SUPPRESSED = "suppressed"  # in a maintenance window or silenced: recorded, looked at again after
    INHIBITED = "inhibited"  # another alert explains it (e.g. its host is down): related to that incident
    HEARTBEAT = "heartbeat"  # a dead man's switch checking in


SUPPRESSIONS = (Disposition.SUPPRESSED, Disposition.INHIBITED)
IN_GROUP = (Disposition.WAITING, Disposition.INCIDENT)


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
    SUPPRESSED = "suppressed"
    INHIBITED = "inhibited"
    HEARTBEAT = "heartbeat"
    NOTED = "noted"
    DUPLICATE = "duplicate"
    STALE = "stale"
    NOTHING = "nothing"


@quick_init
@dataclass(frozen=True, slots=True)
class Member:
    """One raw alert merged into another by `dedup_by`: firing while `ends_at` is None."""

    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None


@quick_init
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
    suppressed_by: str | None = None  # "maintenance:<name>", "silence:<id>" or "inhibit:<fingerprint>"
    members: tuple[Member, ...] = ()  # the raw alerts `dedup_by` merged into this one

    @property
    def in_group(self) -> bool:
        """Counted among its group's firing alerts."""
        return self.status is Status.FIRING and self.group_key is not None and self.disposition in IN_GROUP

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


@quick_init
@dataclass(frozen=True, slots=True)
class IncidentView:
    """The group's current incident as the engine needs it; a closed incident is no incident."""

    number: int | None  # None: being opened by the decision at hand
    active: bool  # open or acknowledged
    priority: Priority
    resolved_at: datetime | None


@quick_init
@dataclass(frozen=True, slots=True)
class StormEntry:
    """A host that started alerting recently, as the storm watch keeps it (see `bridge.dedup.storm`)."""

    at: datetime  # when bridge saw it start
    host: str
    fingerprint: str
    labels: tuple[tuple[str, str], ...] = ()  # label values a storm's members may share
    member: bool = False  # it joined the storm


@quick_init
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
    changes: tuple[datetime, ...] = ()  # recent fires and resolutions, for `flapping:`; sorted
    flapping: bool = False
    last_seen: datetime | None = None  # heartbeat rules: when the heartbeat last checked in
    storm: tuple[StormEntry, ...] = ()  # the storm group: hosts that started alerting recently
    storm_label: tuple[str, str] | None = None  # the storm group: the label value its members share
    # whose system: the rule's `client:` of the alert that started the current firing stretch (or
    # of the heartbeat), so an incident a timer opens has the client one opened at once would have
    client: str | None = None

    @classmethod
    def empty(cls, key: str, rule: str, title: str) -> GroupState:
        return cls(key, rule, title, 0, None, None, (), None, None)


class EffectKind(StrEnum):
    OPEN = "open"  # open a new incident for the group, attaching its waiting alerts
    REOPEN = "reopen"  # reopen the group's resolved incident, attaching its waiting alerts
    ATTACH = "attach"  # this alert's current occurrence joins the group's incident
    ALERT_UPDATED = "alert_updated"  # same occurrence, something changed (severity)
    ALERT_RESOLVED = "alert_resolved"
    RAISE_PRIORITY = "raise_priority"
    RESOLVE = "resolve"  # every alert stayed resolved for resolve_after
    NOTE = "note"  # a person did something in the source system (Zabbix ack, comment...)
    RELATED = "related"  # an alert inhibited by this incident's alert: recorded with it, not lost
    FLAPPING_STARTED = "flapping_started"
    FLAPPING_ENDED = "flapping_ended"


@quick_init
@dataclass(frozen=True, slots=True)
class IncidentEffect:
    kind: EffectKind
    group_key: str
    incident: int | None = None  # None: the group's current incident
    fingerprint: str | None = None
    priority: Priority | None = None
    title: str = ""
    text: str = ""
    acknowledge: bool = False  # NOTE: the person acknowledged the problem in the source
    actor: str = ""  # NOTE: who, in the source
    route: str | None = None  # OPEN: the escalation policy / team the rules chose
    client: str | None = None  # OPEN: whose system this is
    line: str | None = None  # OPEN: the support line the rules chose (None: L1)
    flapping: bool = False  # OPEN / REOPEN: the group is flapping


class EngineTimer(StrEnum):
    HOLD = "hold"  # re-check a group held by `for:`
    RESOLVE = "resolve"  # resolve a quiet group's incident after resolve_after
    FLAPPING = "flapping"  # see whether a flapping group has calmed down
    HEARTBEAT = "heartbeat"  # a heartbeat is due: open an incident if it did not come
    RELEASE = "release"  # a maintenance window or silence ends: decide what it held back


@quick_init
@dataclass(frozen=True, slots=True)
class TimerRequest:
    kind: EngineTimer
    key: str  # a group key, or for RELEASE the suppression ("maintenance:<name>", "silence:<id>")
    due: datetime


@quick_init
@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str
    alert: AlertState | None = None  # the alert's new state; None when unchanged
    groups: tuple[GroupState, ...] = ()  # groups whose state changed
    effects: tuple[IncidentEffect, ...] = ()
    timers: tuple[TimerRequest, ...] = ()
    releases: tuple[str, ...] = ()  # suppressions that ended now: decide again what they held back
    regroup: tuple[str, ...] = ()  # a storm was recognised: decide again these waiting alerts


@quick_init
@dataclass(frozen=True, slots=True)
class Routing:
    """Where an event goes: the (possibly merged) alert the engine decides on, its rule and group."""

    alert: Alert
    rule: Rule
    target: str | None  # None: dropped
    members: tuple[Member, ...] | None = None  # `dedup_by` bookkeeping to keep, when the rule merges


@quick_init
@dataclass(frozen=True, slots=True)
class Silence:
    """A silence someone created at run time: alerts it matches are held back until it ends."""

    id: int
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    author: str
    comment: str

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, alert: Alert) -> bool:
        return all(m.matches(alert) for m in self.matchers)


@quick_init
@dataclass(frozen=True, slots=True)
class Inhibitor:
    """A firing alert that inhibits others (its rule says `inhibits:`)."""

    fingerprint: str
    description: str  # e.g. "HostDown on db-01"
    incident: int | None


@quick_init
@dataclass(frozen=True, slots=True)
class Context:
    silences: tuple[Silence, ...] = ()
    # inhibiting rule name -> values of its `equal` fields -> fingerprint -> a firing alert with those values
    inhibitors: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Inhibitor]]] = field(default_factory=dict)


EMPTY_CONTEXT = Context()

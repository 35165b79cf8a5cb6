"""The incident lifecycle as a transition table. Pure.

    open ──ack──► acknowledged ──────────┐
      │  ▲            │                  │ (no change for stale_after: stale; any update clears it)
      │  │            └──resolve──► resolved ──close (confirm)──► closed
      └──┼──resolve─────────────────►   │                          │
         └──────────reject / reopen──────┴──────────reopen─────────┘
    open, acknowledged, stale ──cancel──► cancelled ──reopen──► open

`reject` sends a resolution back to work and counts a return. `comment`, `escalate`, `assign` and
`priority` change no status (they are allowed where `IN_PLACE` says). Anything else raises
InvalidTransition. `act` says how an action changes an incident's fields and what its timeline
entry reads; the incident service loads, locks, writes and tells the hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from bridge.errors import Conflict, InvalidTransition, PayloadError
from bridge.priority import SUPPORT_LINES, Priority

SYSTEM_ACTOR = "bridge"
"""The actor the timeline names for what bridge does itself: its rules, timers, messages and
write-back. People are named by their handle (or `cli:<user>`, `admin`, `zabbix:<name>`)."""


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    STALE = "stale"  # in work but unchanged for a long time: someone must re-check it
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        """Someone still has to act: alerts join it, escalation runs."""
        return self in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.STALE)

    @property
    def final(self) -> bool:
        return self in (IncidentStatus.CLOSED, IncidentStatus.CANCELLED)


class IncidentAction(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"
    CLOSE = "close"
    REJECT = "reject"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    ASSIGN = "assign"
    PRIORITY = "priority"
    COMMENT = "comment"
    CANCEL = "cancel"


class IncidentType(StrEnum):
    """Monitoring opens incidents; people may open any of these by hand."""

    INCIDENT = "incident"
    SERVICE_REQUEST = "service_request"
    CHANGE_REQUEST = "change_request"


ACTIVE_STATUSES = (IncidentStatus.OPEN.value, IncidentStatus.ACKNOWLEDGED.value, IncidentStatus.STALE.value)

_WORKING = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.STALE)

TRANSITIONS: dict[tuple[IncidentStatus, IncidentAction], IncidentStatus] = {
    (IncidentStatus.OPEN, IncidentAction.ACK): IncidentStatus.ACKNOWLEDGED,
    (IncidentStatus.STALE, IncidentAction.ACK): IncidentStatus.ACKNOWLEDGED,
    **{(status, IncidentAction.RESOLVE): IncidentStatus.RESOLVED for status in _WORKING},
    **{(status, IncidentAction.CANCEL): IncidentStatus.CANCELLED for status in _WORKING},
    (IncidentStatus.RESOLVED, IncidentAction.CLOSE): IncidentStatus.CLOSED,
    (IncidentStatus.RESOLVED, IncidentAction.REJECT): IncidentStatus.OPEN,
    (IncidentStatus.RESOLVED, IncidentAction.REOPEN): IncidentStatus.OPEN,
    (IncidentStatus.CLOSED, IncidentAction.REOPEN): IncidentStatus.OPEN,
    (IncidentStatus.CANCELLED, IncidentAction.REOPEN): IncidentStatus.OPEN,
}

IN_PLACE: dict[IncidentAction, tuple[IncidentStatus, ...]] = {
    IncidentAction.COMMENT: tuple(IncidentStatus),
    IncidentAction.ESCALATE: _WORKING,
    IncidentAction.ASSIGN: (*_WORKING, IncidentStatus.RESOLVED),
    IncidentAction.PRIORITY: (*_WORKING, IncidentStatus.RESOLVED),
}
"""Actions that keep the status, and the statuses they are allowed in."""


def next_status(number: int, status: IncidentStatus, action: IncidentAction) -> IncidentStatus:
    """The status after `action`, or InvalidTransition."""
    if action in IN_PLACE:
        if status in IN_PLACE[action]:
            return status
        raise InvalidTransition(number, status.value, action.value)
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(number, status.value, action.value) from None


def allowed_actions(status: IncidentStatus) -> list[IncidentAction]:
    """What an operator can do to an incident in `status` (for the API and UI)."""
    return [a for a in IncidentAction if (status, a) in TRANSITIONS or status in IN_PLACE.get(a, ())]


VERBS = {
    IncidentAction.ACK: "acknowledged",
    IncidentAction.RESOLVE: "resolved",
    IncidentAction.CLOSE: "closed",
    IncidentAction.REJECT: "rejected",
    IncidentAction.REOPEN: "reopened",
    IncidentAction.ESCALATE: "escalated",
    IncidentAction.ASSIGN: "assigned",
    IncidentAction.PRIORITY: "priority",
    IncidentAction.COMMENT: "comment",
    IncidentAction.CANCEL: "cancelled",
}
"""The timeline entry's kind for each action."""


@dataclass(frozen=True, slots=True)
class Change:
    """What `assign` and `priority` change: the responsible person, the line, the priority."""

    assignee: str | None = None
    line: str | None = None
    priority: Priority | None = None


@dataclass(frozen=True, slots=True)
class WorkFields:
    """The fields of an incident that people's actions change."""

    status: IncidentStatus
    stale_from: IncidentStatus | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int
    return_count: int
    assignee: str | None
    line: str
    priority: Priority


@dataclass(frozen=True, slots=True)
class Acted:
    """An action applied: the fields after it and what the timeline says of it."""

    fields: WorkFields
    text: str
    unstale: str | None = None
    """The text of the "no longer stale" entry when the action woke a stale incident."""


def check_request(action: IncidentAction, comment: str, change: Change) -> None:
    """Refuse a request that cannot be right whatever the incident's state (PayloadError)."""
    if action is IncidentAction.COMMENT and not comment:
        raise PayloadError("comment", "a comment needs text")
    if action is IncidentAction.ASSIGN and change.assignee is None and change.line is None:
        raise PayloadError("to", "assign needs `to` (a person's handle) and/or `line` (L1, L2, L3)")
    if action is IncidentAction.PRIORITY and change.priority is None:
        raise PayloadError("priority", "needs the new priority, P1..P5")
    if change.line is not None and change.line not in SUPPORT_LINES:
        raise PayloadError("line", f"one of {', '.join(SUPPORT_LINES)}")


def act(
    number: int,
    before: WorkFields,
    action: IncidentAction,
    actor: str,
    now: datetime,
    comment: str = "",
    change: Change | None = None,
) -> Acted:
    """How `action` by `actor` changes the incident: InvalidTransition when its status does not
    allow it, Conflict when an assignment or priority change would change nothing."""
    change = change or Change()
    status = next_status(number, before.status, action)
    fields, unstale = before, None
    if before.status is IncidentStatus.STALE:  # any update clears stale
        if status is IncidentStatus.STALE:
            status = before.stale_from or IncidentStatus.OPEN
        fields, unstale = replace(fields, stale_from=None), f"no longer stale ({action})"
    fields = replace(fields, status=status)
    said = f": {comment}" if comment else ""
    text = f"{VERBS[action]} by {actor}{said}"
    if action is IncidentAction.ACK:
        fields = replace(fields, acknowledged_at=fields.acknowledged_at or now)
    elif action is IncidentAction.RESOLVE:
        fields = replace(fields, resolved_at=now)
    elif action in (IncidentAction.CLOSE, IncidentAction.CANCEL):
        fields = replace(fields, closed_at=now)
    elif action is IncidentAction.REOPEN:
        fields = replace(fields, resolved_at=None, closed_at=None, acknowledged_at=None)
        fields = replace(fields, reopen_count=fields.reopen_count + 1)
    elif action is IncidentAction.REJECT:
        fields = replace(fields, resolved_at=None, closed_at=None, return_count=fields.return_count + 1)
        text = f"resolution rejected by {actor} (return {fields.return_count}){said}"
    elif action is IncidentAction.ASSIGN:
        fields, text = _assign(number, fields, change, actor, said)
    elif action is IncidentAction.PRIORITY:
        assert change.priority is not None
        if change.priority is fields.priority:
            raise Conflict(f"incident {number} already is {fields.priority}")
        text = f"priority {fields.priority} -> {change.priority} by {actor}{said}"
        fields = replace(fields, priority=change.priority)
    elif action is IncidentAction.COMMENT:
        text = comment
    return Acted(fields, text, unstale)


def _assign(number: int, fields: WorkFields, change: Change, actor: str, said: str) -> tuple[WorkFields, str]:
    parts = []
    if change.assignee is not None and change.assignee != fields.assignee:
        parts.append(f"responsible {fields.assignee or 'nobody'} -> {change.assignee}")
        fields = replace(fields, assignee=change.assignee)
    if change.line is not None and change.line != fields.line:
        parts.append(f"line {fields.line} -> {change.line}")
        fields = replace(fields, line=change.line)
    if not parts:
        raise Conflict(f"incident {number} already is so assigned")
    return fields, f"{', '.join(parts)} by {actor}{said}"

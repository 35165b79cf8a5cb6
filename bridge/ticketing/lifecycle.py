"""The incident lifecycle as a transition table. Pure.

    open ──ack──► acknowledged ──────────┐
      │  ▲            │                  │ (no change for stale_after: stale; any update clears it)
      │  │            └──resolve──► resolved ──close (confirm)──► closed
      └──┼──resolve─────────────────►   │                          │
         └──────────reject / reopen──────┴──────────reopen─────────┘
    open, acknowledged, stale ──cancel──► cancelled ──reopen──► open

`reject` sends a resolution back to work and counts a return. `comment`, `escalate`, `assign` and
`priority` change no status (they are allowed where `IN_PLACE` says). Anything else raises
InvalidTransition.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.errors import InvalidTransition

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

"""The incident lifecycle as a transition table. Pure.

    open ──ack──► acknowledged
      │               │
      └──resolve──────┴──► resolved ──close──► closed
                              │                  │
      open ◄──────reopen──────┴──────────────────┘

`comment` is allowed in every status and changes none. Anything else raises InvalidTransition.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.errors import InvalidTransition


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def active(self) -> bool:
        """Someone still has to act: alerts join it, escalation runs."""
        return self in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED)


class IncidentAction(StrEnum):
    ACK = "ack"
    RESOLVE = "resolve"
    CLOSE = "close"
    REOPEN = "reopen"
    COMMENT = "comment"


ACTIVE_STATUSES = (IncidentStatus.OPEN.value, IncidentStatus.ACKNOWLEDGED.value)

TRANSITIONS: dict[tuple[IncidentStatus, IncidentAction], IncidentStatus] = {
    (IncidentStatus.OPEN, IncidentAction.ACK): IncidentStatus.ACKNOWLEDGED,
    (IncidentStatus.OPEN, IncidentAction.RESOLVE): IncidentStatus.RESOLVED,
    (IncidentStatus.ACKNOWLEDGED, IncidentAction.RESOLVE): IncidentStatus.RESOLVED,
    (IncidentStatus.RESOLVED, IncidentAction.CLOSE): IncidentStatus.CLOSED,
    (IncidentStatus.RESOLVED, IncidentAction.REOPEN): IncidentStatus.OPEN,
    (IncidentStatus.CLOSED, IncidentAction.REOPEN): IncidentStatus.OPEN,
}


def next_status(number: int, status: IncidentStatus, action: IncidentAction) -> IncidentStatus:
    """The status after `action`, or InvalidTransition."""
    if action is IncidentAction.COMMENT:
        return status
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        raise InvalidTransition(number, status.value, action.value) from None


def allowed_actions(status: IncidentStatus) -> list[IncidentAction]:
    """What an operator can do to an incident in `status` (for the API and UI)."""
    return [a for a in IncidentAction if a is IncidentAction.COMMENT or (status, a) in TRANSITIONS]

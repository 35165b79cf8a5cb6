"""The buttons under a page sent by Telegram, and what a press of one says. Pure.

A button's callback data is ``<action>:<incident number>`` (``ack:42``), well under Telegram's
64 bytes. The data only says which button was pressed: whether the press does anything is decided
by who pressed it (their linked bridge user, role and client), never by the data, so data made up
by hand gains nothing a press of a real button would not. Anything that is not exactly this shape
is no press at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.ticketing.lifecycle import IncidentAction, IncidentStatus, allowed_actions
from bridge.ticketing.messages import MessageKind

ACTIONABLE = frozenset({MessageKind.REGISTRATION, MessageKind.ESCALATION, MessageKind.BREACH})
"""Messages that carry buttons: the pages someone on duty must act on."""
BUTTON_ACTIONS = (IncidentAction.ACK, IncidentAction.ESCALATE, IncidentAction.RESOLVE)
"""The actions a page's buttons offer, in their order."""
LABELS = {
    IncidentAction.ACK: "Acknowledge",
    IncidentAction.ESCALATE: "Escalate",
    IncidentAction.RESOLVE: "Resolve",
}
OPEN_LABEL = "Open in console"
MAX_NUMBER = 2**63 - 1  # the incidents table's key
_DATA = re.compile(r"(ack|escalate|resolve):([1-9][0-9]{0,18})")


@dataclass(frozen=True, slots=True)
class Press:
    """A button pressed: which action on which incident (still to be authorised)."""

    action: IncidentAction
    incident: int


def callback_data(action: IncidentAction, incident: int) -> str:
    """The callback data of `action`'s button on `incident`'s page."""
    if action not in BUTTON_ACTIONS:
        raise ValueError(f"no button for {action}")
    return f"{action.value}:{incident}"


def parse_press(data: str | None) -> Press | None:
    """The press `data` stands for, or None when it is not the data of one of bridge's buttons."""
    if data is None:
        return None
    found = _DATA.fullmatch(data)
    if found is None:
        return None
    number = int(found.group(2))
    if number > MAX_NUMBER:
        return None
    return Press(IncidentAction(found.group(1)), number)


def actions_left(status: IncidentStatus) -> list[IncidentAction]:
    """The buttons that still make sense for an incident in `status` (none once it is resolved)."""
    allowed = allowed_actions(status)
    return [a for a in BUTTON_ACTIONS if a in allowed]


@dataclass(frozen=True, slots=True)
class Button:
    label: str
    data: str | None = None  # a press comes back with this
    url: str | None = None  # or it opens this


def keyboard(incident: int, status: IncidentStatus, link: str | None) -> list[list[Button]]:
    """The rows of buttons under a page of `incident` in `status`: the actions left on one row,
    the console's link (when bridge knows its own URL) on the next."""
    rows: list[list[Button]] = []
    actions = actions_left(status)
    if actions:
        rows.append([Button(LABELS[a], data=callback_data(a, incident)) for a in actions])
    if link:
        rows.append([Button(OPEN_LABEL, url=link)])
    return rows

"""Who may do what: the four roles, the actions people take, and the table between them. Pure.

    viewer    a client's representative: sees only that client's incidents and reports; may
              comment, raise or lower a priority, cancel one no longer relevant, and confirm a
              resolved incident's closure or reject it back to work (the client confirms closure)
    operator  the night shift: everything a viewer may, on every client, plus acknowledge,
              resolve, reopen, escalate, reassign, change line and type, open incidents by hand,
              silence an alert, and read the operational lists (alerts, intake, notifications...)
    engineer  plus rules and rota reload, managing silences, maintenance, overrides, retrying
              parked deliveries
    admin     plus people and their tokens

Each role holds every right of the roles above it in this list. `Person` is the one acting: the
web layer finds it from a session, a personal token or the admin token, and its `handle` is the
actor every service writes to the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bridge.ticketing.lifecycle import Change, IncidentAction, IncidentStatus, allowed_actions


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ENGINEER = "engineer"
    ADMIN = "admin"


class Action(StrEnum):
    """Everything a person can be allowed or refused."""

    VIEW = "view"  # incidents (a viewer: their client's only) and their detail
    VIEW_REPORTS = "view_reports"  # SLA and other reports (a viewer: their client's only)
    VIEW_OPERATIONS = "view_operations"  # alerts, intake, outbox, notifications, silences, rules, rota
    OWN_TOKENS = "own_tokens"  # one's own personal API tokens and password
    COMMENT = "comment"
    CHANGE_PRIORITY = "change_priority"
    CANCEL = "cancel"
    CLOSE = "close"  # confirm a resolved incident's closure
    REJECT = "reject"  # send a resolution back to work
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    REASSIGN = "reassign"
    CHANGE_LINE = "change_line"
    CHANGE_TYPE = "change_type"
    OPEN_INCIDENT = "open_incident"
    SILENCE = "silence"  # silence an alert (create a silence)
    MANAGE_SILENCES = "manage_silences"  # expire any silence
    RULES_RELOAD = "rules_reload"
    ROTA_RELOAD = "rota_reload"
    MAINTENANCE = "maintenance"
    OVERRIDE = "override"  # on-call overrides: add, cancel
    RETRY_INTAKE = "retry_intake"
    MANAGE_USERS = "manage_users"
    MANAGE_TOKENS = "manage_tokens"  # every person's tokens


_VIEWER = frozenset(
    {
        Action.VIEW,
        Action.VIEW_REPORTS,
        Action.OWN_TOKENS,
        Action.COMMENT,
        Action.CHANGE_PRIORITY,
        Action.CANCEL,
        Action.CLOSE,
        Action.REJECT,
    }
)
_OPERATOR = _VIEWER | {
    Action.VIEW_OPERATIONS,
    Action.ACKNOWLEDGE,
    Action.RESOLVE,
    Action.REOPEN,
    Action.ESCALATE,
    Action.REASSIGN,
    Action.CHANGE_LINE,
    Action.CHANGE_TYPE,
    Action.OPEN_INCIDENT,
    Action.SILENCE,
}
_ENGINEER = _OPERATOR | {
    Action.MANAGE_SILENCES,
    Action.RULES_RELOAD,
    Action.ROTA_RELOAD,
    Action.MAINTENANCE,
    Action.OVERRIDE,
    Action.RETRY_INTAKE,
}
_ADMIN = frozenset(Action)

RIGHTS: dict[Role, frozenset[Action]] = {
    Role.VIEWER: _VIEWER,
    Role.OPERATOR: _OPERATOR,
    Role.ENGINEER: _ENGINEER,
    Role.ADMIN: _ADMIN,
}
"""What each role may do; each role's set contains the one before it."""

INCIDENT_ACTIONS: dict[IncidentAction, Action] = {
    IncidentAction.ACK: Action.ACKNOWLEDGE,
    IncidentAction.RESOLVE: Action.RESOLVE,
    IncidentAction.CLOSE: Action.CLOSE,
    IncidentAction.REJECT: Action.REJECT,
    IncidentAction.REOPEN: Action.REOPEN,
    IncidentAction.ESCALATE: Action.ESCALATE,
    IncidentAction.ASSIGN: Action.REASSIGN,
    IncidentAction.PRIORITY: Action.CHANGE_PRIORITY,
    IncidentAction.COMMENT: Action.COMMENT,
    IncidentAction.CANCEL: Action.CANCEL,
}
"""The right each incident action needs (`assign` of the line alone needs CHANGE_LINE: see
`needed_for`)."""


def allows(role: Role, action: Action) -> bool:
    """`role` may take `action`."""
    return action in RIGHTS[role]


def needed_for(action: IncidentAction, change: Change | None = None) -> frozenset[Action]:
    """The rights an incident action needs: `assign` that changes only the line needs
    CHANGE_LINE, with a person REASSIGN, with both both."""
    if action is IncidentAction.ASSIGN and change is not None:
        needed = set()
        if change.assignee is not None:
            needed.add(Action.REASSIGN)
        if change.line is not None:
            needed.add(Action.CHANGE_LINE)
        if needed:
            return frozenset(needed)
    return frozenset({INCIDENT_ACTIONS[action]})


def incident_actions_for(role: Role, status: IncidentStatus) -> list[IncidentAction]:
    """The actions `role` may take on an incident in `status` (for the buttons a page shows)."""
    return [a for a in allowed_actions(status) if allows(role, INCIDENT_ACTIONS[a])]


@dataclass(frozen=True, slots=True)
class Person:
    """Who is acting: a signed-in user, the owner of a personal token, or the admin token."""

    handle: str
    name: str
    role: Role
    client: str | None  # a viewer's client; None for everyone else
    locale: str  # "en" or "ru"

    def may(self, action: Action) -> bool:
        return allows(self.role, action)

    @property
    def client_scope(self) -> str | None:
        """The one client whose incidents this person sees, or None for all (a viewer without a
        client sees none: "" is no incident's client)."""
        return (self.client or "") if self.role is Role.VIEWER else None


ADMIN_HANDLE = "admin"
"""The handle of the admin token's person: what the timeline names for its actions."""

ADMIN_PERSON = Person(handle=ADMIN_HANDLE, name="admin token", role=Role.ADMIN, client=None, locale="en")

LOCALES = ("en", "ru")
"""The languages the console is shipped in."""

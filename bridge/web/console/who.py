"""Who is looking at a console page and what they may do there, on top of `bridge.web.auth`:
a page without a person sends the browser to the login form (the API answers 401 instead); a
role that may not do something gets 403; a viewer asking for another client's incident gets 404,
as if it did not exist."""

from __future__ import annotations

from flask import abort, request

from bridge.db.models import Incident
from bridge.ticketing.lifecycle import IncidentAction, IncidentStatus
from bridge.ticketing.roles import Action, Person, Role, incident_actions_for, needed_for
from bridge.web.auth import current_person, login_redirect, require_incident_visible, require_person
from bridge.web.console.i18n import ACTION_NAMES

__all__ = ["Person"]


def person(action: Action | None = None) -> Person:
    """The person of this request (else off to the login form), allowed `action` (else 403)."""
    browser = request.method == "GET" and not request.headers.get("Authorization")
    if browser and current_person() is None:
        abort(login_redirect())
    return require_person(action)


def visible_clients(who: Person) -> list[str] | None:
    """The clients whose incidents `who` sees: a viewer's own, or None for every client."""
    scope = who.client_scope
    return None if scope is None else [scope]


def require_visible(who: Person, incident: Incident) -> None:
    """404 when `who` is a viewer and `incident` is another client's."""
    require_incident_visible(who, incident.client, incident.number)


def allowed_actions(who: Person, status: IncidentStatus) -> list[IncidentAction]:
    """The actions the incident page offers `who` on an incident in `status`."""
    return incident_actions_for(who.role, status)


def may(who: Person, action: IncidentAction) -> bool:
    return all(who.may(needed) for needed in needed_for(action))


def may_silence(who: Person) -> bool:
    return who.may(Action.SILENCE)


def may_expire_silences(who: Person) -> bool:
    return who.may(Action.MANAGE_SILENCES)


def may_override(who: Person) -> bool:
    return who.may(Action.OVERRIDE)


def may_reload(who: Person) -> bool:
    return who.may(Action.RULES_RELOAD)


def is_viewer(who: Person) -> bool:
    return who.role is Role.VIEWER


def action_label(action: IncidentAction) -> str:
    return str(ACTION_NAMES[action.value])

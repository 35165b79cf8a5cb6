"""What each API endpoint needs: one table, keyed by method and route, that the API's hook
enforces before any view runs (`require_person`), that the OpenAPI document shows and that the
role tests are generated from. A route missing from it is refused to everyone (and fails
tests/e2e/test_api_roles.py), so a new endpoint cannot ship open by mistake.

A view may check more once it has read the request: a viewer's incident must be their client's
(404 otherwise), and `assign` needs REASSIGN for a person and CHANGE_LINE for a line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bridge.ticketing.roles import INCIDENT_ACTIONS, Action


@dataclass(frozen=True, slots=True)
class ByArgument:
    """The right depends on a part of the path, e.g. ``/incidents/<n>/<action>``."""

    argument: str
    actions: Mapping[str, Action]
    otherwise: Action = Action.VIEW  # an unknown value: the view answers 400


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a route needs, and how the OpenAPI document describes it."""

    needs: Action | ByArgument
    paged: bool = False  # takes ?limit=&offset= and answers {"items", "total", "limit", "offset"}
    body: Mapping[str, str] = field(default_factory=dict)  # JSON body fields: name -> description
    query: Mapping[str, str] = field(default_factory=dict)  # query parameters: name -> description


INCIDENT_ACTION_RIGHTS = ByArgument("action", {a.value: right for a, right in INCIDENT_ACTIONS.items()})

ENDPOINTS: dict[str, Endpoint] = {
    # incidents
    "GET /api/incidents": Endpoint(
        Action.VIEW,
        paged=True,
        query={
            "status": "open, acknowledged, stale, resolved, closed, cancelled (repeatable)",
            "priority": "P1..P5 (repeatable)",
            "client": "a client (repeatable); a viewer sees their client's only",
            "assignee": "a handle (repeatable)",
            "type": "incident, service_request, change_request (repeatable)",
            "q": "text in the title or host",
        },
    ),
    "POST /api/incidents": Endpoint(
        Action.OPEN_INCIDENT,
        body={
            "title": "required",
            "priority": "P1..P5 (default P3)",
            "type": "incident, service_request, change_request",
            "client": "a client of the rota",
            "description": "text",
            "reporter": "who reported it (a phone call, a mail)",
            "route": "the escalation route",
            "line": "L1, L2, L3 (default L1)",
        },
    ),
    "GET /api/incidents/<number:number>": Endpoint(Action.VIEW),
    "POST /api/incidents/<number:number>/<action>": Endpoint(
        INCIDENT_ACTION_RIGHTS,
        body={
            "comment": "text (required for comment)",
            "to": "assign: the new responsible person's handle",
            "line": "assign: L1, L2, L3",
            "priority": "priority: P1..P5",
        },
    ),
    "POST /api/incidents/<number:number>/line": Endpoint(
        Action.CHANGE_LINE, body={"line": "L1, L2, L3", "comment": "why"}
    ),
    "POST /api/incidents/<number:number>/type": Endpoint(
        Action.CHANGE_TYPE, body={"type": "incident, service_request, change_request", "comment": "why"}
    ),
    "GET /api/notifications": Endpoint(
        Action.VIEW_OPERATIONS,
        paged=True,
        query={"status": "pending, sent, failed...", "incident": "an incident number", "channel": "mail..."},
    ),
    "GET /api/reports/sla": Endpoint(
        Action.VIEW_REPORTS,
        query={
            "from": "ISO 8601 time",
            "to": "ISO 8601 time",
            "client": "a client (a viewer: theirs)",
            "format": "json (default) or csv",
        },
    ),
    # the noise report and the proactive share span every client's alerts: the desk's, not a viewer's
    "GET /api/reports/noise": Endpoint(
        Action.VIEW_OPERATIONS,
        query={"from": "ISO 8601 time", "to": "ISO 8601 time", "client": "a client", "format": "json or csv"},
    ),
    "GET /api/reports/proactive": Endpoint(
        Action.VIEW_OPERATIONS,
        query={"from": "ISO 8601 time", "to": "ISO 8601 time", "client": "a client", "format": "json or csv"},
    ),
    # alerts, intake, write-back, silences, rules
    "GET /api/alerts": Endpoint(
        Action.VIEW_OPERATIONS,
        paged=True,
        query={
            "status": "firing, resolved",
            "decision": "a disposition",
            "incident": "a number",
            "q": "text",
        },
    ),
    "GET /api/intake": Endpoint(
        Action.VIEW_OPERATIONS, paged=True, query={"status": "pending, done, failed"}
    ),
    "POST /api/intake/retry": Endpoint(
        Action.RETRY_INTAKE, body={"ids": "delivery ids", "all": "true: every failed one"}
    ),
    "GET /api/outbox": Endpoint(
        Action.VIEW_OPERATIONS, paged=True, query={"status": "pending, done, failed"}
    ),
    "POST /api/silences": Endpoint(
        Action.SILENCE,
        body={
            "matchers": "label matchers",
            "starts_at": "ISO 8601 (default now)",
            "ends_at": "ISO 8601 or a duration (2h)",
            "comment": "why (required)",
        },
    ),
    "GET /api/silences": Endpoint(
        Action.VIEW_OPERATIONS, paged=True, query={"state": "active, pending, expired"}
    ),
    "GET /api/silences/<number:silence_id>": Endpoint(Action.VIEW_OPERATIONS),
    "DELETE /api/silences/<number:silence_id>": Endpoint(Action.MANAGE_SILENCES),
    "GET /api/rules": Endpoint(Action.VIEW_OPERATIONS),
    "POST /api/rules/reload": Endpoint(Action.RULES_RELOAD),
    # on call
    "GET /api/oncall": Endpoint(
        Action.VIEW_OPERATIONS, query={"at": "ISO 8601 time", "schedule": "a schedule"}
    ),
    "GET /api/oncall/shifts": Endpoint(
        Action.VIEW_OPERATIONS, query={"from": "ISO 8601", "to": "ISO 8601", "schedule": "a schedule"}
    ),
    "POST /api/oncall/overrides": Endpoint(
        Action.OVERRIDE,
        body={
            "schedule": "required",
            "person": "required: a handle",
            "starts_at": "ISO 8601 (default now)",
            "ends_at": "ISO 8601 or a duration",
            "reason": "text",
        },
    ),
    "GET /api/oncall/overrides": Endpoint(Action.VIEW_OPERATIONS),
    "DELETE /api/oncall/overrides/<number:override_id>": Endpoint(Action.OVERRIDE),
    "POST /api/oncall/reload": Endpoint(Action.ROTA_RELOAD),
    # people
    "GET /api/me": Endpoint(Action.VIEW),
    "GET /api/me/tokens": Endpoint(Action.OWN_TOKENS, paged=True),
    "POST /api/me/tokens": Endpoint(Action.OWN_TOKENS, body={"name": "what the token is for"}),
    "DELETE /api/me/tokens/<number:token_id>": Endpoint(Action.OWN_TOKENS),
    "POST /api/me/telegram/link": Endpoint(Action.OWN_TOKENS),
    "DELETE /api/me/telegram": Endpoint(Action.OWN_TOKENS),
    "GET /api/users": Endpoint(Action.MANAGE_USERS, paged=True),
    "POST /api/users": Endpoint(
        Action.MANAGE_USERS,
        body={
            "handle": "required: the rota handle",
            "name": "default: the rota's name",
            "role": "viewer, operator, engineer, admin",
            "client": "a viewer's client",
            "locale": "en, ru",
            "password": "at least 10 characters (none: tokens only)",
        },
    ),
    "GET /api/users/<handle>": Endpoint(Action.MANAGE_USERS),
    "PATCH /api/users/<handle>": Endpoint(
        Action.MANAGE_USERS,
        body={
            "name": "text",
            "role": "viewer, operator, engineer, admin",
            "client": "a viewer's client",
            "locale": "en, ru",
            "disabled": "true / false",
            "password": "a new password",
        },
    ),
    "GET /api/tokens": Endpoint(Action.MANAGE_TOKENS, paged=True, query={"owner": "a handle"}),
    "POST /api/users/<handle>/tokens": Endpoint(Action.MANAGE_TOKENS, body={"name": "what it is for"}),
    "DELETE /api/tokens/<number:token_id>": Endpoint(Action.MANAGE_TOKENS),
    # the description itself
    "GET /api/openapi.json": Endpoint(Action.VIEW),
    "GET /api/docs": Endpoint(Action.VIEW),
}
"""Every API route, as ``"METHOD rule"``."""


def endpoint_of(method: str, rule: str) -> Endpoint | None:
    return ENDPOINTS.get(f"{method} {rule}")


def needed(endpoint: Endpoint, view_args: Mapping[str, object]) -> Action:
    """The right a request to `endpoint` needs, given its path's arguments."""
    if isinstance(endpoint.needs, ByArgument):
        value = view_args.get(endpoint.needs.argument)
        return endpoint.needs.actions.get(str(value), endpoint.needs.otherwise)
    return endpoint.needs

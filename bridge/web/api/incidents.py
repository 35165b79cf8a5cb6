"""Incidents: list, open by hand, show, act on; their notifications; the SLA report.

A viewer sees their client's incidents only: the list is filtered, and any other incident is
answered 404, exactly as one that does not exist. The person acting is the timeline's actor."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from bridge.db.models import NotificationStatus
from bridge.errors import Forbidden, PayloadError
from bridge.integrations.channels import CHANNELS
from bridge.priority import Priority
from bridge.services.incidents import IncidentQuery, NewIncident
from bridge.ticketing.lifecycle import Change, IncidentAction, IncidentStatus, IncidentType
from bridge.ticketing.roles import incident_actions_for, needed_for
from bridge.timeutil import iso
from bridge.web import requests as args
from bridge.web.api import reports
from bridge.web.auth import acting
from bridge.web.context import services
from bridge.web.report_format import sla_csv
from bridge.web.serialize import (
    incident_detail_json,
    incident_json,
    notification_json,
    page_json,
    sla_row_json,
)

blueprint = Blueprint("incidents", __name__)


@blueprint.get("/incidents")
def list_incidents() -> Response:
    query = IncidentQuery(
        status=args.choices("status", IncidentStatus),
        priority=args.choices("priority", Priority, upper=True),
        q=args.arg("q"),
        client=args.multi("client"),
        assignee=args.multi("assignee"),
        type=args.choices("type", IncidentType),
        only_client=acting().client_scope,
    )
    return jsonify(page_json(services().incidents.list(query, args.paging()), incident_json))


@blueprint.post("/incidents")
def open_incident() -> Response:
    """Open an incident by hand (a phone call, a mail): same owner, SLA and escalation rules."""
    body = args.json_body()
    try:
        kind = IncidentType(str(body.get("type", IncidentType.INCIDENT)))
    except ValueError:
        raise PayloadError("type", f"one of {', '.join(t.value for t in IncidentType)}") from None
    new = NewIncident(
        title=args.text(body, "title", required=True),
        priority=args.priority(body.get("priority", "P3")),
        type=kind,
        client=args.text(body, "client", longest=200) or None,
        description=args.text(body, "description"),
        reporter=args.text(body, "reporter", longest=200) or None,
        route=args.text(body, "route", longest=100) or None,
        line=args.text(body, "line") or "L1",
    )
    response = jsonify(incident_json(services().incidents.open(new, acting().handle)))
    response.status_code = 201
    return response


@blueprint.get("/incidents/<number:number>")
def show_incident(number: int) -> Response:
    """The incident with its alerts, timeline, silences and notifications; `my_actions` are the
    actions its status and the asking person's role both allow (the buttons to show)."""
    person = acting()
    detail = services().incidents.detail(number, person.client_scope)
    body = incident_detail_json(detail)
    body["my_actions"] = [a.value for a in incident_actions_for(person.role, detail.incident.status)]
    return jsonify(body)


@blueprint.post("/incidents/<number:number>/<action>")
def incident_action(number: int, action: str) -> Response:
    """ack, resolve, close (confirm closure), reject, reopen, escalate, assign, priority,
    comment, cancel: what the person's role allows."""
    try:
        chosen = IncidentAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in IncidentAction)
        raise PayloadError("action", f"unknown action {action!r}; one of {choices}") from None
    body = args.json_body()
    change = _change(body)
    person = acting()
    for right in sorted(needed_for(chosen, change)):
        if not person.may(right):
            raise Forbidden(f"{person.handle} ({person.role}) may not {right.value.replace('_', ' ')}")
    found = services().incidents
    incident = found.act(number, chosen, person.handle, _comment(body), change, person.client_scope)
    return jsonify(incident_json(incident))


@blueprint.post("/incidents/<number:number>/line")
def change_line(number: int) -> Response:
    """Hand the incident to another support line: ``{"line": "L2", "comment": "..."}``."""
    body = args.json_body()
    line = body.get("line")
    if not isinstance(line, str) or not line:
        raise PayloadError("line", "give the new line: L1, L2 or L3")
    person = acting()
    change = Change(None, line.upper(), None)
    found = services().incidents
    incident = found.act(
        number, IncidentAction.ASSIGN, person.handle, _comment(body), change, person.client_scope
    )
    return jsonify(incident_json(incident))


@blueprint.post("/incidents/<number:number>/type")
def change_type(number: int) -> Response:
    """Classify the incident: ``{"type": "service_request", "comment": "..."}``."""
    body = args.json_body()
    try:
        kind = IncidentType(str(body.get("type")))
    except ValueError:
        raise PayloadError("type", f"one of {', '.join(t.value for t in IncidentType)}") from None
    person = acting()
    incident = services().incidents.retype(number, kind, person.handle, _comment(body), person.client_scope)
    return jsonify(incident_json(incident))


def _comment(body: dict[str, Any]) -> str:
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise PayloadError("comment", "must be a string")
    return comment


def _change(body: dict[str, Any]) -> Change:
    """`assign` takes {"to": handle, "line": "L2"}; `priority` takes {"priority": "P2"}."""
    values = {key: body.get(key) for key in ("to", "line", "priority")}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise PayloadError(key, "must be a string")
    priority = args.priority(values["priority"]) if values["priority"] else None
    return Change(values["to"] or None, (values["line"] or "").upper() or None, priority)


@blueprint.get("/notifications")
def list_notifications() -> Response:
    """Notification rows, e.g. ``?status=failed`` or ``?incident=12``."""
    page = services().notifier.list(
        args.choices("status", NotificationStatus),
        args.number_arg("incident"),
        args.paging(),
        args.choices("channel", CHANNELS),
    )
    return jsonify(page_json(page, notification_json))


@blueprint.get("/reports/sla")
def sla_report() -> Response:
    """Per client and priority: count, median and p90 time to acknowledge and resolve (service
    time), breaches with their incidents. `from` defaults to 30 days before `to` (default now);
    ``format=csv`` answers a CSV download."""
    as_csv = reports.wants_csv()
    scope = acting().client_scope
    client = args.arg("client")
    if scope is not None and client not in (None, scope):
        raise PayloadError("client", "a viewer sees their own client's report only")
    report = services().reports.sla(args.instant_arg("from"), args.instant_arg("to"), scope or client)
    if as_csv:
        return reports.csv_response(sla_csv(report), "sla")
    rows = [sla_row_json(r) for r in report.rows]
    return jsonify({"from": iso(report.start), "to": iso(report.end), "rows": rows})

"""Read-only HTML pages for people following a link (e.g. the incident link in Zabbix's event
menu). The browser asks for credentials: any user name, the admin token as password."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request

from bridge.services import incidents as service
from bridge.services.tokens import Scope, presented_token
from bridge.web.app import get_runtime
from bridge.web.serialize import alert_json, incident_json, timeline_json

blueprint = Blueprint("pages", __name__, template_folder="templates")


@blueprint.before_request
def _authenticate() -> Response | None:
    if get_runtime().tokens.check(Scope.ADMIN, presented_token(request.headers.get("Authorization"))):
        return None
    return Response(
        "Sign in with the bridge API token as password.\n",
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="bridge", charset="UTF-8"'},
        mimetype="text/plain",
    )


@blueprint.get("/incidents/<int:number>")
def incident_page(number: int) -> str:
    with get_runtime().sessions() as session:
        incident = incident_json(service.get_incident(session, number))
        alerts = [alert_json(a) for a in service.alerts_of(session, number)]
        timeline = [timeline_json(t) for t in service.timeline(session, number)]
    return render_template("incident.html", incident=incident, alerts=alerts, timeline=timeline)

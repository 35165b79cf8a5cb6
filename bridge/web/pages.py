"""Read-only HTML pages for people following a link (e.g. the incident link in Zabbix's event
menu). The browser asks for credentials: any user name, the admin token as password. The login a
browser keeps for them only reads: the API takes no Basic credentials for a change (see
`bridge.web.api`), and the headers of `bridge.web.security` keep the pages out of frames."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template

from bridge.db.models import Scope
from bridge.web.auth import authenticated
from bridge.web.context import services
from bridge.web.serialize import incident_detail_json

blueprint = Blueprint("pages", __name__, template_folder="templates")


@blueprint.before_request
def _authenticate() -> Response | None:
    if authenticated(Scope.ADMIN):
        return None
    response = jsonify(error="sign in with the bridge API token as password (any user name)")
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="bridge", charset="UTF-8"'
    return response


@blueprint.get("/incidents/<number:number>")
def incident_page(number: int) -> str:
    detail = incident_detail_json(services().incidents.detail(number))
    return render_template(
        "incident.html", incident=detail, alerts=detail["alerts"], timeline=detail["timeline"]
    )

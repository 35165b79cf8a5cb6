"""HTML pages for people following a link (e.g. the incident link in Zabbix's event menu). A
browser not signed in is sent to the login page and comes back after; the admin token as the
password of Basic auth still reads them (any user name). A viewer sees their client's incidents
only: any other is a 404, as one that does not exist. The headers of `bridge.web.security` keep
the pages out of frames."""

from __future__ import annotations

from flask import Blueprint, render_template
from werkzeug.wrappers import Response

from bridge.ticketing.roles import Action
from bridge.web.auth import current_person, login_redirect, require_person
from bridge.web.context import services
from bridge.web.serialize import incident_detail_json

blueprint = Blueprint("pages", __name__, template_folder="templates")


@blueprint.before_request
def _authenticate() -> Response | None:
    if current_person() is None:
        return login_redirect()
    return None


@blueprint.get("/incidents/<number:number>")
def incident_page(number: int) -> str:
    person = require_person(Action.VIEW)
    detail = incident_detail_json(services().incidents.detail(number, person.client_scope))
    return render_template(
        "incident.html", incident=detail, alerts=detail["alerts"], timeline=detail["timeline"]
    )

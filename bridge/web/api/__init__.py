"""The JSON API under /api, for people and scripts: one blueprint per area, all behind one hook
that finds the person asking (`bridge.web.auth`: a personal token or the admin token as
``Authorization: Bearer``, or a console session with its CSRF token for a change) and checks
their role against the endpoint's entry in `permissions.ENDPOINTS` before any view runs.
Reading also takes the admin token as the password of Basic auth (the login a browser keeps for
the pages); a change never does, so that no page elsewhere can make a signed-in browser act."""

from __future__ import annotations

from flask import Blueprint, request

from bridge.errors import Forbidden
from bridge.web.api import alerts, docs, incidents, oncall, reports, users
from bridge.web.api.permissions import endpoint_of, needed
from bridge.web.auth import require_person

blueprint = Blueprint("api", __name__, url_prefix="/api")
blueprint.register_blueprint(incidents.blueprint)
blueprint.register_blueprint(alerts.blueprint)
blueprint.register_blueprint(oncall.blueprint)
blueprint.register_blueprint(users.blueprint)
blueprint.register_blueprint(docs.blueprint)
blueprint.register_blueprint(reports.blueprint)


@blueprint.before_request
def _authorize() -> None:
    require_person()  # 401 before anything else is said about the route
    rule = request.url_rule
    if rule is None or request.method == "OPTIONS":
        return
    method = "GET" if request.method == "HEAD" else request.method
    endpoint = endpoint_of(method, rule.rule)
    if endpoint is None:  # fail closed: a route nobody declared is nobody's
        raise Forbidden(f"{method} {rule.rule} declares no permission")
    require_person(needed(endpoint, request.view_args or {}))

"""The JSON API under /api, for operators and scripts: one blueprint per area, all behind one
authentication hook: the admin token, as ``Authorization: Bearer``. Reading also takes it as the
password of Basic auth (the login a browser keeps for the pages); a change (POST, DELETE...)
takes Bearer only, so that no page elsewhere can make a signed-in browser act."""

from __future__ import annotations

from flask import Blueprint, request

from bridge.db.models import Scope
from bridge.web.api import alerts, incidents, oncall, reports
from bridge.web.auth import READING, require, require_bearer

blueprint = Blueprint("api", __name__, url_prefix="/api")
blueprint.register_blueprint(incidents.blueprint)
blueprint.register_blueprint(alerts.blueprint)
blueprint.register_blueprint(oncall.blueprint)
blueprint.register_blueprint(reports.blueprint)


@blueprint.before_request
def _authenticate() -> None:
    if request.method in READING:
        require(Scope.ADMIN)
    else:
        require_bearer(
            Scope.ADMIN,
            "missing or wrong API token: a change takes the admin token as `Authorization: Bearer "
            "<token>` (never a browser's Basic login)",
        )

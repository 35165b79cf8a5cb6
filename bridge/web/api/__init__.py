"""The JSON API under /api, for operators and scripts: one blueprint per area, all behind one
authentication hook (the admin token, as a bearer token)."""

from __future__ import annotations

from flask import Blueprint

from bridge.db.models import Scope
from bridge.web.api import alerts, incidents, oncall
from bridge.web.auth import require

blueprint = Blueprint("api", __name__, url_prefix="/api")
blueprint.register_blueprint(incidents.blueprint)
blueprint.register_blueprint(alerts.blueprint)
blueprint.register_blueprint(oncall.blueprint)


@blueprint.before_request
def _authenticate() -> None:
    require(Scope.ADMIN)

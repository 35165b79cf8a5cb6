"""The JSON API under /api, for operators and scripts. Bearer-token auth (the admin token for now)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from bridge import intake, outbox
from bridge.app import get_runtime
from bridge.credentials import Scope, presented_token
from bridge.errors import PayloadError, Unauthenticated
from bridge.ticketing import alerts
from bridge.ticketing import incidents as service
from bridge.ticketing.lifecycle import IncidentAction
from bridge.timeutil import iso
from bridge.web.serialize import (
    alert_json,
    incident_json,
    intake_json,
    outbox_json,
    silence_json,
    timeline_json,
)

blueprint = Blueprint("api", __name__, url_prefix="/api")

MAX_PAGE = 500
ADMIN_ACTOR = "admin"


@blueprint.before_request
def _authenticate() -> None:
    if not get_runtime().tokens.check(Scope.ADMIN, presented_token(request.headers.get("Authorization"))):
        raise Unauthenticated("missing or wrong API token")


@blueprint.get("/incidents")
def list_incidents() -> Response:
    limit, offset = _paging()
    query = service.IncidentQuery(
        status=_multi("status"),
        priority=[p.upper() for p in _multi("priority")],
        q=request.args.get("q"),
        limit=limit,
        offset=offset,
    )
    with get_runtime().sessions() as session:
        rows, total = service.list_incidents(session, query)
        return jsonify(items=[incident_json(r) for r in rows], total=total, limit=limit, offset=offset)


@blueprint.get("/incidents/<int:number>")
def show_incident(number: int) -> Response:
    with get_runtime().sessions() as session:
        incident = service.get_incident(session, number)
        body = incident_json(incident)
        body["alerts"] = [alert_json(a) for a in service.alerts_of(session, number)]
        body["timeline"] = [timeline_json(t) for t in service.timeline(session, number)]
        body["silences"] = [silence_json(s) for s in service.silences_of(session, number)]
        return jsonify(body)


@blueprint.post("/incidents/<int:number>/<action>")
def incident_action(number: int, action: str) -> Response:
    try:
        chosen = IncidentAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in IncidentAction)
        raise PayloadError("action", f"unknown action {action!r}; one of {choices}") from None
    comment = _json_body().get("comment", "")
    if not isinstance(comment, str):
        raise PayloadError("comment", "must be a string")
    runtime = get_runtime()
    with runtime.sessions() as session, session.begin():
        incident = service.act(
            session, number, chosen, ADMIN_ACTOR, runtime.clock.now(), comment, runtime.hooks
        )
        return jsonify(incident_json(incident))


@blueprint.get("/alerts")
def list_alerts() -> Response:
    """Alerts and the decision on each, with its reason."""
    limit, offset = _paging()
    incident = request.args.get("incident")
    if incident is not None and not incident.isdigit():
        raise PayloadError("incident", "must be an incident number")
    query = alerts.AlertQuery(
        status=_multi("status"),
        decision=_multi("decision"),
        incident=int(incident) if incident else None,
        q=request.args.get("q"),
        limit=limit,
        offset=offset,
    )
    with get_runtime().sessions() as session:
        rows, total = alerts.list_alerts(session, query)
        return jsonify(items=[alert_json(r) for r in rows], total=total, limit=limit, offset=offset)


@blueprint.get("/intake")
def list_intake() -> Response:
    """The intake log, e.g. ``?status=failed`` for deliveries parked after repeated failures."""
    limit, offset = _paging()
    with get_runtime().sessions() as session:
        rows, total = intake.list_intake(session, _multi("status"), limit, offset)
        return jsonify(items=[intake_json(r) for r in rows], total=total, limit=limit, offset=offset)


@blueprint.get("/outbox")
def list_outbox() -> Response:
    """Write-back jobs, e.g. ``?status=failed`` for the ones that gave up."""
    limit, offset = _paging()
    with get_runtime().sessions() as session:
        rows, total = outbox.list_jobs(session, _multi("status"), limit, offset)
        return jsonify(items=[outbox_json(r) for r in rows], total=total, limit=limit, offset=offset)


@blueprint.get("/rules")
def rules() -> Response:
    live = get_runtime().rules
    ruleset = live.engine.rules
    error = live.last_error
    return jsonify(
        version=ruleset.version,
        loaded_at=iso(live.loaded_at),
        files=sorted(ruleset.files),
        rules=[
            {
                "name": r.name,
                "file": r.file,
                "line": r.line,
                "action": r.action.value,
                "match": [str(m) for m in r.matchers],
            }
            for r in ruleset.rules
        ],
        last_error=None if error is None else [str(p) for p in error.problems],
        last_error_at=iso(live.last_error_at),
    )


def _paging() -> tuple[int, int]:
    try:
        limit = int(request.args.get("limit", 50))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise PayloadError("limit/offset", "must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise PayloadError("limit/offset", f"limit must be 1..{MAX_PAGE} and offset >= 0")
    return limit, offset


def _multi(name: str) -> list[str]:
    """``?status=open,acknowledged`` and ``?status=open&status=acknowledged`` alike."""
    return [v for value in request.args.getlist(name) for v in value.split(",") if v]


def _json_body() -> dict[str, Any]:
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PayloadError("body", 'must be a JSON object, e.g. {"comment": "..."}')
    return body

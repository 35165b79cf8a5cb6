"""The JSON API under /api, for operators and scripts. Bearer-token auth (the admin token for now)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from bridge.errors import PayloadError, Unauthenticated
from bridge.priority import Priority
from bridge.services import alerts, intake, outbox, silences
from bridge.services import incidents as service
from bridge.services.notifications import list_notifications
from bridge.services.tokens import Scope, presented_token
from bridge.ticketing.lifecycle import IncidentAction
from bridge.timeutil import iso, parse_duration, parse_instant
from bridge.web.app import get_runtime
from bridge.web.serialize import (
    alert_json,
    incident_json,
    intake_json,
    notification_json,
    outbox_json,
    silence_json,
    silence_row_json,
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
        client=_multi("client"),
        assignee=_multi("assignee"),
        type=_multi("type"),
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
        body["related"] = [alert_json(a) for a in service.alerts_of(session, number, role="related")]
        body["timeline"] = [timeline_json(t) for t in service.timeline(session, number)]
        body["silences"] = [silence_json(s) for s in service.silences_of(session, number)]
        rows, _ = list_notifications(session, (), number, MAX_PAGE, 0)
        body["notifications"] = [notification_json(n) for n in reversed(rows)]
        return jsonify(body)


@blueprint.post("/incidents/<int:number>/<action>")
def incident_action(number: int, action: str) -> Response:
    try:
        chosen = IncidentAction(action)
    except ValueError:
        choices = ", ".join(a.value for a in IncidentAction)
        raise PayloadError("action", f"unknown action {action!r}; one of {choices}") from None
    body = _json_body()
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise PayloadError("comment", "must be a string")
    runtime = get_runtime()
    with runtime.sessions() as session, session.begin():
        incident = service.act(
            session,
            number,
            chosen,
            ADMIN_ACTOR,
            runtime.clock.now(),
            comment,
            runtime.hooks,
            change=_change(body),
        )
        response = jsonify(incident_json(incident))
    runtime.runner.notify()  # the notifications it queued go out soon
    return response


def _change(body: dict[str, Any]) -> service.Change:
    """`assign` takes {"to": handle, "line": "L2"}; `priority` takes {"priority": "P2"}."""
    values = {key: body.get(key) for key in ("to", "line", "priority")}
    for key, value in values.items():
        if value is not None and not isinstance(value, str):
            raise PayloadError(key, "must be a string")
    priority = None
    if values["priority"]:
        try:
            priority = Priority(str(values["priority"]).upper())
        except ValueError:
            raise PayloadError("priority", "one of P1, P2, P3, P4, P5") from None
    return service.Change(values["to"] or None, (values["line"] or "").upper() or None, priority)


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


@blueprint.post("/intake/retry")
def retry_intake() -> Response:
    """Replay parked deliveries: body ``{"ids": [12, 13]}`` or ``{"all": true}``."""
    body = _json_body()
    ids = body.get("ids")
    every = body.get("all") is True
    if every == (ids is not None):
        raise PayloadError("ids", 'give the ids of failed deliveries, or "all": true')
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        raise PayloadError("ids", "must be a list of delivery ids")
    runtime = get_runtime()
    with runtime.sessions() as session, session.begin():
        retried = intake.retry_failed(session, None if every else ids)
    runtime.notify_many(retried)
    return jsonify(retried=retried)


@blueprint.get("/outbox")
def list_outbox() -> Response:
    """Write-back jobs, e.g. ``?status=failed`` for the ones that gave up."""
    limit, offset = _paging()
    with get_runtime().sessions() as session:
        rows, total = outbox.list_jobs(session, _multi("status"), limit, offset)
        return jsonify(items=[outbox_json(r) for r in rows], total=total, limit=limit, offset=offset)


@blueprint.post("/silences")
def create_silence() -> Response:
    """Hold back matching alerts from `starts_at` (default now) until `ends_at` (a time, or a
    duration such as "2h" from the start)."""
    body = _json_body()
    runtime = get_runtime()
    now = runtime.clock.now()
    matchers = silences.validate_matchers(body.get("matchers"))
    starts_at = _instant(body.get("starts_at"), "starts_at") or now
    ends_at = _ends_at(body.get("ends_at"), starts_at)
    comment = body.get("comment", "")
    if not isinstance(comment, str) or not comment.strip():
        raise PayloadError("comment", "say why (it shows on every alert the silence holds back)")
    author = body.get("author") or ADMIN_ACTOR
    if not isinstance(author, str):
        raise PayloadError("author", "must be a string")
    with runtime.sessions() as session, session.begin():
        row = silences.create(session, matchers, starts_at, ends_at, author, comment.strip(), now)
        response = jsonify(silence_row_json(row, now))
    response.status_code = 201
    return response


@blueprint.get("/silences")
def list_silences() -> Response:
    limit, offset = _paging()
    runtime = get_runtime()
    now = runtime.clock.now()
    states = _multi("state")
    for state in states:
        if state not in silences.STATES:
            raise PayloadError("state", f"one of {', '.join(silences.STATES)}")
    with runtime.sessions() as session:
        rows, total = silences.list_silences(session, states, now, limit, offset)
        return jsonify(
            items=[silence_row_json(r, now) for r in rows], total=total, limit=limit, offset=offset
        )


@blueprint.get("/silences/<int:silence_id>")
def show_silence(silence_id: int) -> Response:
    runtime = get_runtime()
    with runtime.sessions() as session:
        return jsonify(silence_row_json(silences.get(session, silence_id), runtime.clock.now()))


@blueprint.delete("/silences/<int:silence_id>")
def expire_silence(silence_id: int) -> Response:
    """End a silence now: what it held back and still fires goes through the rules at once."""
    runtime = get_runtime()
    now = runtime.clock.now()
    with runtime.sessions() as session, session.begin():
        row = silences.expire(session, silence_id, now)
        response = jsonify(silence_row_json(row, now))
    runtime.runner.notify()
    return response


@blueprint.post("/rules/reload")
def reload_rules() -> Response:
    live = get_runtime().rules
    if live.reload():
        return rules()
    response = rules()
    response.status_code = 422
    return response


@blueprint.get("/rules")
def rules() -> Response:
    """The rules in force, their version (content hash) and load time, and the last refused reload."""
    runtime = get_runtime()
    live = runtime.rules
    ruleset = live.engine.rules
    error = live.last_error
    now = runtime.clock.now()
    return jsonify(
        version=ruleset.version,
        loaded_at=iso(live.loaded_at),
        files=sorted(ruleset.files),
        rules=[
            {
                "name": r.name,
                "file": r.file,
                "line": r.line,
                "kind": r.kind.value,
                "action": r.action.value,
                "match": [str(m) for m in r.matchers],
                "continue": r.proceed,
            }
            for r in ruleset.rules
        ],
        maintenance=[
            {
                "name": m.name,
                "file": m.file,
                "line": m.line,
                "timezone": str(m.tz),
                "match": [str(x) for x in m.matchers],
                "active_until": iso(m.until_any(now)),
            }
            for m in ruleset.maintenance
        ],
        last_error=None if error is None else [str(p) for p in error.problems],
        last_error_at=iso(live.last_error_at),
    )


def _instant(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(field, "must be an ISO 8601 time with a zone")
    try:
        return parse_instant(value)
    except ValueError:
        raise PayloadError(field, f"not an ISO 8601 time with a zone: {value!r}") from None


def _ends_at(value: Any, starts_at: datetime) -> datetime:
    """An ISO time, or a duration ("2h") counted from the start."""
    if isinstance(value, str) and value and value[0].isdigit() and value[-1] in "smhdw":
        try:
            return starts_at + parse_duration(value)
        except ValueError:
            pass
    ends_at = _instant(value, "ends_at")
    if ends_at is None:
        raise PayloadError("ends_at", "missing: when the silence ends (a time, or a duration such as 2h)")
    return ends_at


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

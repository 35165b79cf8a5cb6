"""The JSON API of the rota and of incident ownership: who is on duty, overrides, manual
incidents, notifications and the SLA report. Same bearer-token auth as the rest of /api."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from bridge.errors import PayloadError, Unauthenticated
from bridge.priority import Priority
from bridge.services import incidents as service
from bridge.services import notifications as notify
from bridge.services import oncall, reports
from bridge.services.tokens import Scope, presented_token
from bridge.ticketing.lifecycle import IncidentType
from bridge.timeutil import iso, parse_duration, parse_instant
from bridge.web.app import get_runtime
from bridge.web.serialize import incident_json, notification_json, on_duty_json, sla_row_json

blueprint = Blueprint("duty_api", __name__, url_prefix="/api")

ADMIN_ACTOR = "admin"
MAX_SPAN = timedelta(days=62)


@blueprint.before_request
def _authenticate() -> None:
    if not get_runtime().tokens.check(Scope.ADMIN, presented_token(request.headers.get("Authorization"))):
        raise Unauthenticated("missing or wrong API token")


@blueprint.get("/oncall")
def on_call() -> Response:
    """Who is on duty per schedule at `at` (default now), who would own a new incident of each
    client, and the rota's version and last refused reload."""
    runtime = get_runtime()
    at = _instant(request.args.get("at"), "at") or runtime.clock.now()
    rota = runtime.rota.rota
    with runtime.sessions() as session:
        duties = oncall.on_duty(session, rota, at, request.args.get("schedule"))
        extra = oncall.overrides(session, at)
    owners = {}
    for client in [*rota.clients, None]:
        found = rota.responsible_for(client, at, extra)
        owners[client or "(no client)"] = (
            None
            if found is None
            else {"person": found.person, "name": rota.display(found.person), "why": found.why}
        )
    return jsonify(
        at=iso(at),
        timezone=str(rota.tz),
        schedules=[on_duty_json(d.schedule, d.duty, rota) for d in duties],
        responsible=owners,
        rota=_rota_status(),
    )


@blueprint.get("/oncall/shifts")
def coming_shifts() -> Response:
    """The shifts from `from` (default now) to `to` (default a week later), per schedule."""
    runtime = get_runtime()
    start = _instant(request.args.get("from"), "from") or runtime.clock.now()
    end = _instant(request.args.get("to"), "to") or start + timedelta(days=7)
    if not start < end <= start + MAX_SPAN:
        raise PayloadError("to", f"must be after `from`, at most {MAX_SPAN.days} days later")
    rota = runtime.rota.rota
    with runtime.sessions() as session:
        found = oncall.coming_shifts(session, rota, start, end, request.args.get("schedule"))
    return jsonify(
        {
            "from": iso(start),
            "to": iso(end),
            "schedules": {
                name: [on_duty_json(name, s, rota) for s in spans] for name, spans in found.items()
            },
        }
    )


@blueprint.post("/oncall/overrides")
def create_override() -> Response:
    """`person` covers `schedule` from `starts_at` (default now) until `ends_at` (a time, or a
    duration such as "12h")."""
    body = _json_body()
    runtime = get_runtime()
    now = runtime.clock.now()
    starts_at = _instant(body.get("starts_at"), "starts_at") or now
    ends = body.get("ends_at")
    ends_at = (
        starts_at + _duration(ends, "ends_at")
        if isinstance(ends, str) and ends[:1].isdigit() and ends[-1:] in "smhdw"
        else _instant(ends, "ends_at")
    )
    if ends_at is None:
        raise PayloadError("ends_at", "missing: when the override ends (a time, or a duration such as 12h)")
    with runtime.sessions() as session, session.begin():
        row = oncall.create_override(
            session,
            runtime.rota.rota,
            _text(body, "schedule", required=True),
            _text(body, "person", required=True),
            starts_at,
            ends_at,
            _text(body, "reason"),
            _text(body, "author") or ADMIN_ACTOR,
            now,
        )
        response = jsonify(_override_json(row))
    response.status_code = 201
    return response


@blueprint.get("/oncall/overrides")
def list_overrides() -> Response:
    runtime = get_runtime()
    with runtime.sessions() as session:
        rows = oncall.list_overrides(session, runtime.clock.now())
        return jsonify(items=[_override_json(r) for r in rows])


@blueprint.delete("/oncall/overrides/<int:override_id>")
def cancel_override(override_id: int) -> Response:
    runtime = get_runtime()
    with runtime.sessions() as session, session.begin():
        return jsonify(_override_json(oncall.cancel_override(session, override_id, runtime.clock.now())))


@blueprint.post("/oncall/reload")
def reload_rota() -> Response:
    ok = get_runtime().rota.reload()
    response = jsonify(_rota_status())
    response.status_code = 200 if ok else 422
    return response


@blueprint.post("/incidents")
def open_incident() -> Response:
    """Open an incident by hand (a phone call, a mail): same owner, SLA and escalation rules."""
    body = _json_body()
    try:
        priority = Priority(str(body.get("priority", "P3")).upper())
    except ValueError:
        raise PayloadError("priority", "one of P1, P2, P3, P4, P5") from None
    try:
        kind = IncidentType(str(body.get("type", IncidentType.INCIDENT.value)))
    except ValueError:
        raise PayloadError("type", f"one of {', '.join(t.value for t in IncidentType)}") from None
    new = service.NewIncident(
        title=_text(body, "title", required=True),
        priority=priority,
        type=kind,
        client=_text(body, "client") or None,
        description=_text(body, "description"),
        reporter=_text(body, "reporter") or None,
        route=_text(body, "route") or None,
        line=_text(body, "line") or "L1",
    )
    runtime = get_runtime()
    with runtime.sessions() as session, session.begin():
        incident = service.open_incident(session, new, ADMIN_ACTOR, runtime.clock.now(), runtime.hooks)
        session.flush()
        response = jsonify(incident_json(incident))
    runtime.runner.notify()
    response.status_code = 201
    return response


@blueprint.get("/notifications")
def list_notifications() -> Response:
    """Notification rows, e.g. ``?status=failed`` or ``?incident=12``."""
    limit = _int("limit", 50, 1, 500)
    offset = _int("offset", 0, 0, None)
    incident = request.args.get("incident")
    statuses = [v for value in request.args.getlist("status") for v in value.split(",") if v]
    with get_runtime().sessions() as session:
        rows, total = notify.list_notifications(
            session,
            statuses,
            _int("incident", 0, 1, None) if incident else None,
            limit,
            offset,
            request.args.get("channel"),
        )
        return jsonify(items=[notification_json(r) for r in rows], total=total, limit=limit, offset=offset)


@blueprint.get("/reports/sla")
def sla_report() -> Response:
    """Per client and priority: count, median and p90 time to acknowledge and resolve (service
    time), breaches with their incidents. `from` defaults to 30 days before `to` (default now)."""
    runtime = get_runtime()
    end = _instant(request.args.get("to"), "to") or runtime.clock.now()
    start = _instant(request.args.get("from"), "from") or end - timedelta(days=30)
    if start >= end:
        raise PayloadError("from", "must be before `to`")
    with runtime.sessions() as session:
        rows = reports.sla_report(session, runtime.rota.rota, start, end, request.args.get("client"))
    return jsonify({"from": iso(start), "to": iso(end), "rows": [sla_row_json(r) for r in rows]})


# -- helpers ------------------------------------------------------------------------------------


def _rota_status() -> dict[str, Any]:
    live = get_runtime().rota
    error = live.last_error
    return {
        "version": live.rota.version,
        "file": str(live.path),
        "loaded_at": iso(live.loaded_at),
        "people": len(live.rota.people),
        "schedules": list(live.rota.schedules),
        "policies": list(live.rota.policies),
        "last_error": None if error is None else [str(p) for p in error.problems],
        "last_error_at": iso(live.last_error_at),
    }


def _override_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "schedule": row.schedule,
        "person": row.person,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "reason": row.reason,
        "author": row.author,
        "created_at": iso(row.created_at),
        "cancelled_at": iso(row.cancelled_at),
    }


def _instant(value: Any, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(name, "must be an ISO 8601 time with a zone")
    try:
        return parse_instant(value)
    except ValueError:
        raise PayloadError(name, f"not an ISO 8601 time with a zone: {value!r}") from None


def _duration(value: str, name: str) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise PayloadError(name, str(exc)) from None


def _text(body: dict[str, Any], name: str, required: bool = False) -> str:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise PayloadError(name, "missing")
        return ""
    if not isinstance(value, str):
        raise PayloadError(name, "must be a string")
    return value.strip()


def _int(name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        raise PayloadError(name, "must be a whole number") from None
    if value < low or (high is not None and value > high):
        raise PayloadError(name, f"must be {low}..{high}" if high else f"must be >= {low}")
    return value


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True) if request.get_data() else {}
    if not isinstance(body, dict):
        raise PayloadError("body", "must be a JSON object")
    return body

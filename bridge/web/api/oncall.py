"""The rota at work: who is on duty, the shifts of a period, overrides, reloading rota.yaml."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, jsonify, request

from bridge.errors import PayloadError
from bridge.timeutil import iso
from bridge.web import requests as args
from bridge.web.auth import acting, author_of
from bridge.web.context import services
from bridge.web.serialize import on_call_json, override_json, rota_status_json, shifts_json

blueprint = Blueprint("oncall", __name__)

MAX_SPAN = timedelta(days=62)
"""The longest period whose shifts one request lists."""
DEFAULT_SPAN = timedelta(days=7)


@blueprint.get("/oncall")
def on_call() -> Response:
    """Who is on duty per schedule at `at` (default now), who would own a new incident of each
    client, and the rota's version and last refused reload."""
    found = services()
    now = found.oncall.now(args.instant_arg("at"), request.args.get("schedule"))
    return jsonify(on_call_json(now, found.rota))


@blueprint.get("/oncall/shifts")
def coming_shifts() -> Response:
    """The shifts from `from` (default now) to `to` (default a week later), per schedule."""
    found = services()
    start = args.instant_arg("from") or found.clock.now()
    end = args.instant_arg("to") or start + DEFAULT_SPAN
    if not start < end <= start + MAX_SPAN:
        raise PayloadError("to", f"must be after `from`, at most {MAX_SPAN.days} days later")
    shifts = found.oncall.shifts(start, end, request.args.get("schedule"))
    return jsonify({"from": iso(start), "to": iso(end), "schedules": shifts_json(shifts)})


@blueprint.post("/oncall/overrides")
def create_override() -> Response:
    """`person` covers `schedule` from `starts_at` (default now) until `ends_at` (a time, or a
    duration such as "12h")."""
    found = services()
    body = args.json_body()
    starts_at = args.instant(body.get("starts_at"), "starts_at")
    ends_at = args.end_time(body.get("ends_at"), "ends_at", starts_at or found.clock.now(), "the override")
    row = found.oncall.create_override(
        args.text(body, "schedule", required=True),
        args.text(body, "person", required=True),
        starts_at,
        ends_at,
        args.text(body, "reason"),
        author_of(args.text(body, "author", longest=200)),
    )
    response = jsonify(override_json(row))
    response.status_code = 201
    return response


@blueprint.get("/oncall/overrides")
def list_overrides() -> Response:
    return jsonify(items=[override_json(r) for r in services().oncall.list_overrides()])


@blueprint.delete("/oncall/overrides/<number:override_id>")
def cancel_override(override_id: int) -> Response:
    return jsonify(override_json(services().oncall.cancel_override(override_id, acting().handle)))


@blueprint.post("/oncall/reload")
def reload_rota() -> Response:
    found = services()
    reloaded = found.rota.reload(acting().handle)
    response = jsonify(rota_status_json(found.rota))
    response.status_code = 200 if reloaded else 422
    return response

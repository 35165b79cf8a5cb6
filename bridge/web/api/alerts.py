"""What came in and what the rules made of it: alerts and their decisions, the intake log and
retrying parked deliveries, write-back jobs, run-time silences, the rules in force."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from bridge.alert import Status
from bridge.db.models import IntakeStatus, OutboxStatus
from bridge.db.queries import MAX_ID
from bridge.dedup.state import Disposition
from bridge.errors import PayloadError
from bridge.services.alerts import AlertQuery
from bridge.services.silences import STATES as SILENCE_STATES
from bridge.web import requests as args
from bridge.web.auth import acting, author_of
from bridge.web.context import services
from bridge.web.serialize import alert_json, intake_json, outbox_json, page_json, rules_json, silence_row_json

blueprint = Blueprint("alerts", __name__)


@blueprint.get("/alerts")
def list_alerts() -> Response:
    """Alerts and the decision on each, with its reason."""
    query = AlertQuery(
        status=args.choices("status", Status),
        decision=args.choices("decision", Disposition),
        incident=args.number_arg("incident"),
        q=args.arg("q"),
    )
    return jsonify(page_json(services().alerts.list(query, args.paging()), alert_json))


@blueprint.get("/intake")
def list_intake() -> Response:
    """The intake log, e.g. ``?status=failed`` for deliveries parked after repeated failures."""
    statuses = args.choices("status", IntakeStatus)
    return jsonify(page_json(services().intake.list(statuses, args.paging()), intake_json))


@blueprint.post("/intake/retry")
def retry_intake() -> Response:
    """Replay parked deliveries: body ``{"ids": [12, 13]}`` or ``{"all": true}``."""
    body = args.json_body()
    ids = body.get("ids")
    every = body.get("all") is True
    if every == (ids is not None):
        raise PayloadError("ids", 'give the ids of failed deliveries, or "all": true')
    if ids is not None and (not isinstance(ids, list) or not all(_delivery_id(i) for i in ids)):
        raise PayloadError("ids", f"must be a list of delivery ids (whole numbers from 1 to {MAX_ID})")
    retried = services().intake.retry(None if every else ids, acting().handle)
    return jsonify(retried=retried.ids)


@blueprint.get("/outbox")
def list_outbox() -> Response:
    """Write-back jobs, e.g. ``?status=failed`` for the ones that gave up."""
    statuses = args.choices("status", OutboxStatus)
    return jsonify(page_json(services().outbox.list(statuses, args.paging()), outbox_json))


@blueprint.post("/silences")
def create_silence() -> Response:
    """Hold back matching alerts from `starts_at` (default now) until `ends_at` (a time, or a
    duration such as "2h" from the start)."""
    found = services()
    body = args.json_body()
    starts_at = args.instant(body.get("starts_at"), "starts_at")
    ends_at = args.end_time(body.get("ends_at"), "ends_at", starts_at or found.clock.now(), "the silence")
    comment = args.text(body, "comment")
    if not comment:
        raise PayloadError("comment", "say why (it shows on every alert the silence holds back)")
    author = author_of(args.text(body, "author", longest=200))
    row = found.silences.create(body.get("matchers"), starts_at, ends_at, author, comment)
    response = jsonify(silence_row_json(row, found.clock.now()))
    response.status_code = 201
    return response


@blueprint.get("/silences")
def list_silences() -> Response:
    found = services()
    page = found.silences.list(args.choices("state", SILENCE_STATES), args.paging())
    now = found.clock.now()
    return jsonify(page_json(page, lambda row: silence_row_json(row, now)))


@blueprint.get("/silences/<number:silence_id>")
def show_silence(silence_id: int) -> Response:
    found = services()
    return jsonify(silence_row_json(found.silences.get(silence_id), found.clock.now()))


@blueprint.delete("/silences/<number:silence_id>")
def expire_silence(silence_id: int) -> Response:
    """End a silence now: what it held back and still fires goes through the rules at once."""
    found = services()
    return jsonify(silence_row_json(found.silences.expire(silence_id, acting().handle), found.clock.now()))


@blueprint.get("/rules")
def rules() -> Response:
    """The rules in force, their version (content hash) and load time, and the last refused reload."""
    found = services()
    return jsonify(rules_json(found.rules, found.clock.now()))


@blueprint.post("/rules/reload")
def reload_rules() -> Response:
    found = services()
    reloaded = found.rules.reload(acting().handle)
    response = jsonify(rules_json(found.rules, found.clock.now()))
    response.status_code = 200 if reloaded else 422
    return response


def _delivery_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID

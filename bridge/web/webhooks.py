"""The webhook endpoints. A delivery is authenticated, size- and type-checked, parsed (to refuse
a malformed one with 400 saying why), committed to the intake log, and only then answered 202."""

from __future__ import annotations

from time import perf_counter

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from bridge.alert import Source
from bridge.db.models import AlertRow
from bridge.errors import Unauthenticated
from bridge.services.intake import store_delivery
from bridge.services.tokens import Scope, presented_token
from bridge.sources import parse_delivery
from bridge.web.app import get_runtime
from bridge.web.errors import error_response
from bridge.worker.runtime import Runtime

blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@blueprint.post("/alertmanager")
def alertmanager() -> Response:
    return _receive(Source.ALERTMANAGER, Scope.ALERTMANAGER)


@blueprint.post("/zabbix")
def zabbix() -> Response:
    return _receive(Source.ZABBIX, Scope.ZABBIX)


@blueprint.after_request
def _count(response: Response) -> Response:
    source = (request.url_rule.rule.rsplit("/", 1)[-1]) if request.url_rule else "unknown"
    get_runtime().metrics.deliveries.labels(source, str(response.status_code)).inc()
    return response


def incident_tags(runtime: Runtime, fingerprint: str, host_url: str) -> dict[str, str]:
    """`__zbx_bridge_incident` and `__zbx_bridge_url` of the alert's incident; {} while it has none."""
    with runtime.sessions() as session:
        number = session.scalar(select(AlertRow.incident_number).where(AlertRow.fingerprint == fingerprint))
    if number is None:
        return {}
    base = runtime.base_url(host_url.rstrip("/"))
    return {"__zbx_bridge_incident": f"INC-{number}", "__zbx_bridge_url": f"{base}/incidents/{number}"}


def _receive(source: Source, scope: Scope) -> Response:
    runtime = get_runtime()
    started = perf_counter()
    received_at = runtime.clock.now()
    if not runtime.tokens.check(scope, presented_token(request.headers.get("Authorization"))):
        raise Unauthenticated("missing or wrong bearer token")
    if request.mimetype != "application/json":
        shown = request.mimetype or "none"
        return error_response(415, f"Content-Type must be application/json, got {shown}")
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug answers 413
    delivery = parse_delivery(source, body, received_at)
    stored = store_delivery(runtime.sessions, delivery, body, received_at)
    answer_tags = source is Source.ZABBIX and runtime.settings.zabbix_answer_tags
    # Decided here when the answer needs its incident; otherwise (or if that failed) by the
    # worker. Handing over never fails the request: the row is committed either way.
    if stored.intake_id is not None and not (answer_tags and runtime.process_now(stored.intake_id)):
        runtime.notify(stored.intake_id)
    runtime.metrics.alerts_received.labels(source.value).inc(len(delivery.alerts))
    runtime.metrics.webhook_seconds.labels(source.value).observe(perf_counter() - started)
    answer: dict[str, object] = {"accepted": len(delivery.alerts)}
    if stored.duplicate:
        answer["duplicate"] = True
    if answer_tags:
        # The media type stores these as event tags: operators see the incident in Zabbix.
        answer["tags"] = incident_tags(runtime, delivery.alerts[0].fingerprint, request.host_url)
    response = jsonify(answer)
    response.status_code = 202
    return response

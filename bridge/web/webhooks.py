"""The webhook endpoints. A delivery is authenticated, size- and type-checked, parsed (to refuse
a malformed one with 400 saying why), committed to the intake log, and only then answered 202."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from bridge.alert import Source
from bridge.db.models import Scope
from bridge.web.auth import require
from bridge.web.context import services
from bridge.web.errors import error_response

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
    services().metrics.deliveries.labels(source, str(response.status_code)).inc()
    return response


def _receive(source: Source, scope: Scope) -> Response:
    require(scope, "missing or wrong bearer token")
    if request.mimetype != "application/json":
        shown = request.mimetype or "none"
        return error_response(415, f"Content-Type must be application/json, got {shown}")
    body = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug answers 413
    # Only Zabbix's answer tags link back to bridge: working out the host URL (IDNA decoding
    # included) is no cost an Alertmanager notification should pay.
    host_url = request.host_url if source is Source.ZABBIX else ""
    receipt = services().intake.receive(source, body, host_url)
    if receipt.tags is None:
        # What `jsonify` writes for these two fields, without its encoder: most of the answers.
        duplicate = ',"duplicate":true' if receipt.duplicate else ""
        return Response(f'{{"accepted":{receipt.accepted}{duplicate}}}\n', 202, mimetype="application/json")
    answer: dict[str, object] = {"accepted": receipt.accepted}
    if receipt.duplicate:
        answer["duplicate"] = True
    # The media type stores these as event tags: operators see the incident in Zabbix.
    answer["tags"] = receipt.tags
    response = jsonify(answer)
    response.status_code = 202
    return response

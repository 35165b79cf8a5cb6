"""The webhook endpoints. A delivery is authenticated, size- and type-checked, parsed (to refuse
a malformed one with 400 saying why), committed to the intake log, and only then answered 202."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from bridge.alert import Source
from bridge.db.models import Scope
from bridge.services.intake import Receipt
from bridge.web.auth import presented_token, require
from bridge.web.context import EXTENSION, services
from bridge.web.errors import error_response
from bridge.web.security import PLAIN_HEADERS
from bridge.worker.runtime import Runtime

blueprint = Blueprint("webhooks", __name__, url_prefix="/webhooks")

RAISED = "bridge.webhook_raised"
"""WSGI environ key: what `AlertmanagerIntake` caught from the intake, for the view to raise."""


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
    raised = request.environ.pop(RAISED, None)
    if raised is not None:  # the intake refused it before Flask saw it: answered as if here
        raise raised
    # Only Zabbix's answer tags link back to bridge: working out the host URL (IDNA decoding
    # included) is no cost an Alertmanager notification should pay.
    host_url = request.host_url if source is Source.ZABBIX else ""
    receipt = services().intake.receive(source, body, host_url)
    if receipt.tags is None:
        return Response(_plain_answer(receipt), 202, mimetype="application/json")
    answer: dict[str, object] = {"accepted": receipt.accepted}
    if receipt.duplicate:
        answer["duplicate"] = True
    # The media type stores these as event tags: operators see the incident in Zabbix.
    answer["tags"] = receipt.tags
    response = jsonify(answer)
    response.status_code = 202
    return response


def _plain_answer(receipt: Receipt) -> bytes:
    """What `jsonify` writes for an answer without tags, without its encoder: most answers."""
    duplicate = ',"duplicate":true' if receipt.duplicate else ""
    return f'{{"accepted":{receipt.accepted}{duplicate}}}\n'.encode()


StartResponse = Callable[..., Any]


class AlertmanagerIntake:
    """The Alertmanager webhook's usual case, answered before Flask: a POST with the right token,
    a JSON body of a stated length within the limit. Everything else goes to the Flask app as it
    came, and so does an intake that raised (the view raises what was caught, `RAISED`): every
    refusal is answered, logged and counted by the one code path.

    Flask's request context, URL matching, hooks and response object cost a single-alert webhook
    about as much CPU as storing it (py-spy under bench/sidebyside.py). The answer is the view's,
    byte for byte: its status, body and headers (`PLAIN_HEADERS` are what `security` adds to
    every answer), and it is counted in `bridge_webhook_deliveries_total` as the view's is. Zabbix
    deliveries are decided in the request and answered with tags: they take the Flask path."""

    PATH = "/webhooks/alertmanager"

    def __init__(self, app: Flask) -> None:
        self.flask_app = app.wsgi_app
        self.config = app.config
        runtime = app.extensions[EXTENSION]
        assert isinstance(runtime, Runtime)
        self.services = runtime.services

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != self.PATH or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_app(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or ""
        max_body: int | None = self.config.get("MAX_CONTENT_LENGTH")
        if (
            not (length.isascii() and length.isdigit())
            or "HTTP_TRANSFER_ENCODING" in environ
            or (max_body is not None and int(length) > max_body)
            or (environ.get("CONTENT_TYPE") or "").partition(";")[0].strip().lower() != "application/json"
            or not self.services.tokens.check(
                Scope.ALERTMANAGER, presented_token(environ.get("HTTP_AUTHORIZATION"))
            )
        ):
            return self.flask_app(environ, start_response)  # answered (401, 413, 415 ...) there
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)  # for the Flask app, should it answer instead
        try:
            receipt = self.services.intake.receive(Source.ALERTMANAGER, body, "")
        except Exception as exc:  # a 400, a 503 ...: the Flask app answers it as the view would
            environ[RAISED] = exc
            return self.flask_app(environ, start_response)
        answer = _plain_answer(receipt)
        self.services.metrics.deliveries.labels("alertmanager", "202").inc()
        start_response(
            "202 ACCEPTED",
            [("Content-Type", "application/json"), ("Content-Length", str(len(answer))), *PLAIN_HEADERS],
        )
        return [answer]

"""The webhook endpoints. A delivery is authenticated, size- and type-checked, parsed (to refuse
a malformed one with 400 saying why), committed to the intake log, and only then answered 202."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import SecurityError
from werkzeug.sansio.utils import get_current_url
from werkzeug.wsgi import get_host

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
"""WSGI environ key: what `WebhookIntake` caught from the intake, for the view to raise."""


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
    response = jsonify(_tagged_answer(receipt))
    response.status_code = 202
    return response


def _plain_answer(receipt: Receipt) -> bytes:
    """What `jsonify` writes for an answer without tags, without its encoder: most answers."""
    duplicate = ',"duplicate":true' if receipt.duplicate else ""
    return f'{{"accepted":{receipt.accepted}{duplicate}}}\n'.encode()


def _tagged_answer(receipt: Receipt) -> dict[str, object]:
    """A Zabbix answer: the media type stores its `tags` as event tags (the page in bridge, the
    incident), so that operators see them in Zabbix."""
    answer: dict[str, object] = {"accepted": receipt.accepted}
    if receipt.duplicate:
        answer["duplicate"] = True
    answer["tags"] = receipt.tags
    return answer


StartResponse = Callable[..., Any]


class WebhookIntake:
    """The usual webhook delivery (Alertmanager's, Zabbix's), answered before Flask: a POST with
    the right token, a JSON body of a stated length within the limit. Everything else goes to the
    Flask app as it came, and so does an intake that raised (the view raises what was caught,
    `RAISED`): every refusal is answered, logged and counted by the one code path.

    Flask's request context, URL matching, hooks and response object cost a single-alert webhook
    about as much CPU as storing it (py-spy under bench/sidebyside.py). The answer is the view's,
    byte for byte: its status, body and headers (`PLAIN_HEADERS` are what `security` adds to
    every answer), and it is counted in `bridge_webhook_deliveries_total` as the view's is. A
    Zabbix answer's links start with the request's host URL, worked out as Flask does (its
    `TRUSTED_HOSTS`); a host Flask would refuse goes to Flask, which refuses it."""

    ROUTES: ClassVar[dict[str, tuple[Source, Scope]]] = {
        "/webhooks/alertmanager": (Source.ALERTMANAGER, Scope.ALERTMANAGER),
        "/webhooks/zabbix": (Source.ZABBIX, Scope.ZABBIX),
    }

    def __init__(self, app: Flask) -> None:
        self.flask_app = app.wsgi_app
        self.config = app.config
        self.json = app.json
        runtime = app.extensions[EXTENSION]
        assert isinstance(runtime, Runtime)
        self.services = runtime.services

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = self.ROUTES.get(environ.get("PATH_INFO") or "")
        if route is None or environ.get("REQUEST_METHOD") != "POST":
            return self.flask_app(environ, start_response)
        source, scope = route
        length = environ.get("CONTENT_LENGTH") or ""
        max_body: int | None = self.config.get("MAX_CONTENT_LENGTH")
        if (
            not (length.isascii() and length.isdigit())
            or "HTTP_TRANSFER_ENCODING" in environ
            or (max_body is not None and int(length) > max_body)
            or (environ.get("CONTENT_TYPE") or "").partition(";")[0].strip().lower() != "application/json"
            or not self.services.tokens.check(scope, presented_token(environ.get("HTTP_AUTHORIZATION")))
        ):
            return self.flask_app(environ, start_response)  # answered (401, 413, 415 ...) there
        host_url = ""
        if source is Source.ZABBIX:
            try:
                host_url = get_current_url(
                    environ["wsgi.url_scheme"], get_host(environ, self.config["TRUSTED_HOSTS"])
                )
            except SecurityError:
                return self.flask_app(environ, start_response)  # refused there, as any request to that host
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)  # for the Flask app, should it answer instead
        try:
            receipt = self.services.intake.receive(source, body, host_url)
        except Exception as exc:  # a 400, a 503 ...: the Flask app answers it as the view would
            environ[RAISED] = exc
            return self.flask_app(environ, start_response)
        if receipt.tags is None:
            answer = _plain_answer(receipt)
        else:
            tagged = self.json.response(_tagged_answer(receipt))  # what `jsonify` writes
            assert isinstance(tagged, Response)
            answer = tagged.get_data()
        self.services.metrics.deliveries.labels(source.value, "202").inc()
        start_response(
            "202 ACCEPTED",
            [("Content-Type", "application/json"), ("Content-Length", str(len(answer))), *PLAIN_HEADERS],
        )
        return [answer]

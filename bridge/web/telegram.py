"""`POST /webhooks/telegram/<secret>`: the Telegram bot's updates, when BRIDGE_TELEGRAM_UPDATES is
`webhook`. Telegram sends the secret registered with setWebhook in the
`X-Telegram-Bot-Api-Secret-Token` header; the path carries it too, so a wrong path is a plain 404
and a wrong header a 403. An update is taken once (by its update id) and answered 200, also when
it does nothing, so that Telegram does not send it again."""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import Forbidden, NotFound

from bridge.integrations.telegram import parse_update
from bridge.web.context import services

blueprint = Blueprint("telegram", __name__, url_prefix="/webhooks/telegram")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header's name


@blueprint.post("/<secret>")
def receive(secret: str) -> Response:
    settings = services().settings
    desk = services().telegram
    expected = settings.telegram_webhook_secret or ""
    if desk is None or settings.telegram_updates != "webhook" or not expected:
        raise NotFound()
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        raise NotFound()
    if not hmac.compare_digest(request.headers.get(SECRET_HEADER, "").encode(), expected.encode()):
        raise Forbidden("wrong or missing X-Telegram-Bot-Api-Secret-Token")
    found = parse_update(request.get_json(silent=True))
    outcome = desk.take(found).value if found is not None else "ignored"
    return jsonify({"ok": True, "outcome": outcome})

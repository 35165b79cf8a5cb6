"""What both reference apps share: parsing a body into (fingerprint, status, starts at) rows."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request

Row = tuple[str, str, str, str]
"""(source, fingerprint, status, starts at): one alert as the insert app stores it."""


def alert_rows(source: str, body: bytes) -> list[Row]:
    """The alerts of an Alertmanager v4 notification or a Zabbix media-type body; ValueError
    when the body is not one."""
    payload: Any = json.loads(body)
    if source == "alertmanager":
        alerts = payload["alerts"]
        if not isinstance(alerts, list):
            raise ValueError("alerts must be a list")
        return [(source, str(a["fingerprint"]), str(a["status"]), str(a["startsAt"])) for a in alerts]
    event = payload["event"]
    instance = payload["zabbix"]["instance"]
    return [(source, f"zabbix:{instance}:{event['id']}", str(payload["kind"]), str(event["timestamp"]))]


def make_app(store: Any) -> Flask:
    """A Flask app answering both webhook paths: parse, `store(rows)`, 202 with the count."""
    app = Flask(__name__)

    def receive(source: str) -> Response:
        try:
            rows = alert_rows(source, request.get_data())
        except (ValueError, KeyError, TypeError) as exc:
            return Response(json.dumps({"error": str(exc)}), 400, mimetype="application/json")
        store(rows)
        return Response(json.dumps({"accepted": len(rows)}), 202, mimetype="application/json")

    app.add_url_rule(
        "/webhooks/alertmanager", "alertmanager", lambda: receive("alertmanager"), methods=["POST"]
    )
    app.add_url_rule("/webhooks/zabbix", "zabbix", lambda: receive("zabbix"), methods=["POST"])
    app.add_url_rule("/healthz", "healthz", lambda: Response("ok"))
    return app

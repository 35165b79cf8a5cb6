"""Alerts from a document a person hands to a tool (`bridge rules explain`): a webhook body of
either source, a captured delivery (a JSON file with the body under `body_json`, as in
tests/fixtures), a single Alertmanager alert, or one line of a trace."""

from __future__ import annotations

import json
from datetime import datetime

from bridge.alert import Alert, Source
from bridge.errors import PayloadError
from bridge.sources import parse_delivery
from bridge.sources.delivery import decode_json


def alerts_in(text: str, received_at: datetime) -> tuple[Alert, ...]:
    document = decode_json(text.encode())
    if not isinstance(document, dict):
        raise PayloadError("body", "must be a JSON object")
    source = Source.ALERTMANAGER
    if "body_json" in document:  # a captured delivery: its body
        document = document["body_json"]
    elif {"source", "received_at", "body"} <= document.keys():  # a trace line: its body, its source
        source = Source.ZABBIX if document["source"] == Source.ZABBIX.value else Source.ALERTMANAGER
        document = document["body"]
    if isinstance(document, dict) and document.get("schema") == "bridge.zabbix.v1":
        source = Source.ZABBIX
    elif isinstance(document, dict) and "labels" in document and "alerts" not in document:
        alert = {"status": "firing", "startsAt": received_at.isoformat(), **document}  # one alert
        document = {"version": "4", "status": alert["status"], "alerts": [alert]}
    body = json.dumps(document).encode()
    return parse_delivery(source, body, received_at).alerts

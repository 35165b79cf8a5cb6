"""Real payloads from tests/fixtures, and builders for variations of them."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from bridge.alert import Alert, Source
from bridge.sources import parse_delivery
from bridge.timeutil import parse_instant

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@dataclass(frozen=True)
class Captured:
    name: str
    source: Source
    received_at: datetime
    headers: dict[str, str]
    body_raw: bytes
    body: dict[str, Any]

    def alerts(self) -> tuple[Alert, ...]:
        return parse_delivery(self.source, self.body_raw, self.received_at).alerts


@cache
def captured(path: str) -> Captured:
    data = json.loads((FIXTURES / path).read_text())
    return Captured(
        name=path,
        source=Source.ALERTMANAGER if path.startswith("alertmanager") else Source.ZABBIX,
        received_at=parse_instant(data["received_at"]),
        headers=data["headers"],
        body_raw=data["body_raw"].encode(),
        body=data["body_json"],
    )


def all_captured(source: str) -> list[str]:
    return sorted(f"{source}/{p.name}" for p in (FIXTURES / source).glob("*.json"))


def body(path: str) -> dict[str, Any]:
    """A deep copy of a captured body, to vary."""
    return copy.deepcopy(captured(path).body)


def am_alert(
    name: str,
    *,
    status: str = "firing",
    starts_at: str,
    ends_at: str | None = None,
    fingerprint: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager puts it in a notification."""
    all_labels = {"alertname": name, **labels}
    return {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{name} test"},
        "startsAt": starts_at,
        "endsAt": ends_at or "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.test/graph",
        "fingerprint": fingerprint or f"{abs(hash(tuple(sorted(all_labels.items())))):016x}"[:16],
    }


def am_notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    notification = body("alertmanager/01-firing-single.json")
    notification["alerts"] = list(alerts)
    notification["status"] = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return notification

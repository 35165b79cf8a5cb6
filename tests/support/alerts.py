"""Build normalized alerts and rule sets tersely for engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.alert import Alert, Severity, Source, SourceUpdate, Status
from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.simulator import Simulator

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alert(
    name: str = "HighCPU",
    host: str = "web-01",
    *,
    status: str = "firing",
    start: float = 0,
    end: float | None = None,
    received: float | None = None,
    severity: str = "warning",
    fingerprint: str | None = None,
    source: Source = Source.ALERTMANAGER,
    labels: dict[str, str] | None = None,
    update: SourceUpdate | None = None,
) -> Alert:
    """An alert event; times are minutes after T0. `received` defaults to when the event happened."""
    resolved = status == "resolved"
    ends_at = at(end if end is not None else start) if resolved else None
    happened = end if resolved and end is not None else start
    return Alert(
        source=source,
        source_ref=fingerprint or f"{name}@{host}",
        fingerprint=fingerprint or f"{source.value}:{name}@{host}",
        status=Status(status),
        name=name,
        host=host,
        severity=Severity(severity),
        labels={"alertname": name, "instance": f"{host}:9100", **(labels or {})},
        annotations={},
        starts_at=at(start),
        ends_at=ends_at,
        url="",
        received_at=at(received if received is not None else happened),
        update=update,
        recurring=source is Source.ALERTMANAGER,
    )


def simulator(rules_yaml: str = "rules: []\n") -> Simulator:
    return Simulator(Engine(load_rules_texts({"rules.yaml": rules_yaml})))

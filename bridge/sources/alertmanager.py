"""Alertmanager webhook (version 4) into normalized alerts.

Trust each alert's own status, never the notification's group status: a "firing" notification
may carry resolved alerts. The zero time ``0001-01-01T00:00:00Z`` in endsAt means still firing.
A notification truncated by `max_alerts` says nothing about the alerts it left out.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from bridge.alert import Alert, Severity, Source, Status
from bridge.errors import PayloadError
from bridge.sources.delivery import Delivery
from bridge.timeutil import parse_instant

_SEVERITY_WORDS: dict[str, Severity] = {
    "critical": Severity.CRITICAL,
    "disaster": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "high": Severity.HIGH,
    "error": Severity.HIGH,
    "average": Severity.AVERAGE,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "info": Severity.INFO,
    "information": Severity.INFO,
    "informational": Severity.INFO,
}


def severity_from_label(value: str) -> Severity:
    """Alertmanager's `severity` label as a Severity; unknown words count as warning."""
    return _SEVERITY_WORDS.get(value.strip().lower(), Severity.WARNING)


def host_from_labels(labels: dict[str, str]) -> str:
    """The `host` label, else `hostname`, else `instance` without its port."""
    for key in ("host", "hostname"):
        if labels.get(key):
            return labels[key]
    return strip_port(labels.get("instance", ""))


def strip_port(instance: str) -> str:
    """``web-01:9100`` -> ``web-01``, ``[::1]:9100`` -> ``::1``; anything else unchanged."""
    if instance.startswith("["):
        end = instance.find("]")
        if end > 0 and instance[end + 1 : end + 2] == ":" and instance[end + 2 :].isdigit():
            return instance[1:end]
        return instance
    head, sep, port = instance.rpartition(":")
    if sep and port.isdigit() and head and ":" not in head and "/" not in head:
        return head
    return instance


def labels_fingerprint(labels: dict[str, str]) -> str:
    """A stable hash of a label set, for senders that omit Alertmanager's fingerprint."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def parse(payload: Any, body: bytes, received_at: datetime) -> Delivery:
    """Parse a decoded webhook body; `body` is the raw bytes, hashed for idempotency."""
    if not isinstance(payload, dict):
        raise PayloadError("body", "must be a JSON object (an Alertmanager webhook notification)")
    version = payload.get("version")
    if version is not None and str(version) != "4":
        raise PayloadError("version", f"expected webhook version 4, got {version!r}")
    raw_alerts = payload.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts", "missing or not a list")
    origin = payload.get("origin") or ""
    if origin not in ("", "reconciliation"):
        raise PayloadError("origin", f"must be 'reconciliation' when present, got {origin!r}")
    alerts = tuple(_parse_alert(raw, f"alerts[{i}]", received_at, origin) for i, raw in enumerate(raw_alerts))
    return Delivery(source=Source.ALERTMANAGER, dedup_key=delivery_key(body, received_at), alerts=alerts)


REDELIVERY_WINDOW_SECONDS = 60
"""A byte-identical notification within the same minute is a redelivery (an HA peer's copy, a
retry after a lost answer) and is stored once. Later it is a repeat (`repeat_interval`): stored
and decided again, because a repeat is news for heartbeats (Watchdog) even when nothing changed."""


def delivery_key(body: bytes, received_at: datetime) -> str:
    window = int(received_at.timestamp()) // REDELIVERY_WINDOW_SECONDS
    return f"alertmanager:{hashlib.sha256(body).hexdigest()}:{window}"


def _parse_alert(raw: Any, where: str, received_at: datetime, origin: str = "") -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(where, "must be an object")
    status_text = raw.get("status")
    if status_text not in ("firing", "resolved"):
        raise PayloadError(f"{where}.status", f"must be 'firing' or 'resolved', got {status_text!r}")
    status = Status(status_text)
    labels = _string_map(raw.get("labels"), f"{where}.labels", required=True)
    annotations = _string_map(raw.get("annotations"), f"{where}.annotations", required=False)
    starts_at = _instant(raw.get("startsAt"), f"{where}.startsAt", required=True)
    assert starts_at is not None
    ends_at = _instant(raw.get("endsAt"), f"{where}.endsAt", required=False)
    if status is Status.FIRING:
        ends_at = None  # a firing alert's endsAt is only Alertmanager's resolve_timeout guess
    elif ends_at is None:
        ends_at = max(received_at, starts_at)
    fingerprint = raw.get("fingerprint")
    if fingerprint is None or fingerprint == "":
        fingerprint = labels_fingerprint(labels)
    elif not isinstance(fingerprint, str):
        raise PayloadError(f"{where}.fingerprint", "must be a string")
    url = raw.get("generatorURL") or ""
    if not isinstance(url, str):
        raise PayloadError(f"{where}.generatorURL", "must be a string")
    name = labels.get("alertname") or f"alert {fingerprint}"
    return Alert(
        source=Source.ALERTMANAGER,
        source_ref=fingerprint,
        fingerprint=f"alertmanager:{fingerprint}",
        status=status,
        name=name,
        host=host_from_labels(labels),
        severity=severity_from_label(labels.get("severity", "")),
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        url=url,
        received_at=received_at,
        origin=origin,
    )


def _string_map(value: Any, where: str, *, required: bool) -> dict[str, str]:
    if value is None:
        if required:
            raise PayloadError(where, "missing")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(where, "must be an object of strings")
    for key, item in value.items():
        if not isinstance(item, str):
            raise PayloadError(f"{where}.{key}", f"must be a string, got {type(item).__name__}")
    return dict(value)


def _instant(value: Any, where: str, *, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise PayloadError(where, "missing")
        return None
    if not isinstance(value, str):
        raise PayloadError(where, "must be an RFC 3339 time string")
    if value.startswith("0001-01-01"):
        if required:
            raise PayloadError(where, "is the zero time")
        return None
    try:
        return parse_instant(value)
    except ValueError:
        raise PayloadError(where, f"not an RFC 3339 time: {value!r}") from None

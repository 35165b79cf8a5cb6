"""Alertmanager webhook (version 4) into normalized alerts.

Trust each alert's own status, never the notification's group status: a "firing" notification
may carry resolved alerts. The zero time ``0001-01-01T00:00:00Z`` in endsAt means still firing.
A notification truncated by `max_alerts` says nothing about the alerts it left out.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from bridge.alert import FINGERPRINT_MAX, HOST_MAX, NAME_MAX, TEXT_MAX, Alert, Severity, Source, Status, fit
from bridge.errors import PayloadError
from bridge.sources.delivery import Delivery, shown, shown_key
from bridge.timeutil import EARLIEST, LATEST, in_range, parse_instant

_PREFIX = "alertmanager:"
FINGERPRINT_LIMIT = FINGERPRINT_MAX - len(_PREFIX)
"""The longest fingerprint Alertmanager may send: bridge's identity of the alert is it with a prefix."""
ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
"""Go's zero time, which Alertmanager sends as the endsAt of a firing alert."""
_ZERO_TEXT = "0001-01-01T00:00:00Z"

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
    if version is not None and version != "4" and not (type(version) is int and version == 4):
        raise PayloadError("version", f"expected webhook version 4, got {shown(version)}")
    raw_alerts = payload.get("alerts")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts", "missing or not a list")
    origin = payload.get("origin") or ""
    if origin not in ("", "reconciliation"):
        raise PayloadError("origin", f"must be 'reconciliation' when present, got {shown(origin)}")
    alerts = tuple(
        _plain_alert(raw, received_at, origin) or _parse_alert(raw, f"alerts[{i}]", received_at, origin)
        for i, raw in enumerate(raw_alerts)
    )
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
        raise PayloadError(f"{where}.status", f"must be 'firing' or 'resolved', got {shown(status_text)}")
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
    elif len(fingerprint) > FINGERPRINT_LIMIT:  # it is the alert's identity: never cut
        raise PayloadError(f"{where}.fingerprint", f"longer than {FINGERPRINT_LIMIT} characters")
    url = raw.get("generatorURL") or ""
    if not isinstance(url, str):
        raise PayloadError(f"{where}.generatorURL", "must be a string")
    name = labels.get("alertname") or f"alert {fingerprint}"
    return Alert(
        source=Source.ALERTMANAGER,
        source_ref=fingerprint,
        fingerprint=_PREFIX + fingerprint,
        status=status,
        name=fit(name, NAME_MAX),
        host=fit(host_from_labels(labels), HOST_MAX),
        severity=severity_from_label(labels.get("severity", "")),
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        url=fit(url, TEXT_MAX),
        received_at=received_at,
        origin=origin,
    )


_STATUSES = {"firing": Status.FIRING, "resolved": Status.RESOLVED}
_INSTANTS: dict[str, datetime] = {}
"""Time texts `_parse_alert` takes as they are (RFC 3339, in range, not the zero time), read: a
storm's notifications repeat the same few startsAt values thousands of times."""
_INSTANTS_KEPT = 4096
_INSTANT_TEXT_MAX = 40
"""The longest time text kept: nanoseconds and an offset take 35 characters."""


def _plain_alert(raw: Any, received_at: datetime, origin: str) -> Alert | None:
    """`_parse_alert`'s Alert for the alert every sender sends (an object of plain strings within
    their bounds, a fingerprint, times in range), with no error message prepared and each time
    text read once; None for anything else, which `_parse_alert` then parses or refuses. A
    property test holds the two to the same Alert (tests/unit/sources/test_alertmanager_plain.py)."""
    if type(raw) is not dict:
        return None
    status_text = raw.get("status")
    if type(status_text) is not str:
        return None
    status = _STATUSES.get(status_text)
    labels = _plain_map(raw.get("labels"))
    annotations = raw.get("annotations")
    annotations = {} if annotations is None else _plain_map(annotations)
    fingerprint = raw.get("fingerprint")
    url = raw.get("generatorURL") or ""
    if (
        status is None
        or labels is None
        or annotations is None
        or type(fingerprint) is not str
        or not 0 < len(fingerprint) <= FINGERPRINT_LIMIT
        or type(url) is not str
    ):
        return None
    starts_at = _plain_instant(raw.get("startsAt"))
    ends_text = raw.get("endsAt")
    if ends_text is None or ends_text in ("", _ZERO_TEXT):
        ends_at = None
    else:
        ends_at = _plain_instant(ends_text)
        if ends_at is None:
            return None
    if starts_at is None:
        return None
    if status is Status.FIRING:
        ends_at = None
    elif ends_at is None:
        ends_at = max(received_at, starts_at)
    name = labels.get("alertname") or f"alert {fingerprint}"
    return Alert(  # by position: keywords took as long as filling the slots (the test holds the order)
        Source.ALERTMANAGER,
        fingerprint,
        _PREFIX + fingerprint,
        status,
        fit(name, NAME_MAX),
        fit(host_from_labels(labels), HOST_MAX),
        severity_from_label(labels.get("severity", "")),
        labels,
        annotations,
        starts_at,
        ends_at,
        fit(url, TEXT_MAX),
        received_at,
        None,
        origin,
    )


def _plain_map(value: Any) -> dict[str, str] | None:
    """A copy of `value` when `_string_map` takes it as it is (an object of strings, none longer
    than TEXT_MAX, names included); None for anything else."""
    if type(value) is not dict:
        return None
    for key, item in value.items():  # a loop: faster than checks in bulk for a few labels
        if type(item) is not str or len(item) > TEXT_MAX or len(key) > TEXT_MAX:
            return None
    return dict(value)


def _plain_instant(value: Any) -> datetime | None:
    """`value` read when `_instant` takes it as it is (an RFC 3339 text in range, not the zero
    time); None for anything else."""
    if type(value) is not str:
        return None
    parsed = _INSTANTS.get(value)
    if parsed is None:
        try:
            parsed = parse_instant(value)
        except ValueError:
            return None
        if parsed == ZERO_TIME or not in_range(parsed):
            return None
        if len(value) <= _INSTANT_TEXT_MAX:
            if len(_INSTANTS) >= _INSTANTS_KEPT:
                _INSTANTS.clear()
            _INSTANTS[value] = parsed
    return parsed


def _string_map(value: Any, where: str, *, required: bool) -> dict[str, str]:
    """A map of names to strings; a value longer than TEXT_MAX is cut (and says so), a name that
    long is refused."""
    if value is None:
        if required:
            raise PayloadError(where, "missing")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(where, "must be an object of strings")
    cut: dict[str, str] = {}
    for key, item in value.items():
        if type(item) is not str:
            raise PayloadError(f"{where}.{shown_key(key)}", f"must be a string, got {type(item).__name__}")
        if len(item) > TEXT_MAX:
            cut[key] = fit(item, TEXT_MAX)
        if len(key) > TEXT_MAX:
            raise PayloadError(f"{where}.{shown_key(key)}", f"a name longer than {TEXT_MAX} characters")
    return {**value, **cut} if cut else dict(value)


def _instant(value: Any, where: str, *, required: bool) -> datetime | None:
    """An RFC 3339 time between EARLIEST and LATEST; None for nothing or Go's zero time."""
    if value is None or value == "":
        if required:
            raise PayloadError(where, "missing")
        return None
    if not isinstance(value, str):
        raise PayloadError(where, "must be an RFC 3339 time string")
    if value == _ZERO_TEXT:  # the endsAt of every firing alert
        parsed = ZERO_TIME
    else:
        try:
            parsed = parse_instant(value)
        except ValueError:
            raise PayloadError(where, f"not an RFC 3339 time: {shown(value)}") from None
    if parsed == ZERO_TIME:
        if required:
            raise PayloadError(where, "is the zero time")
        return None
    if not in_range(parsed):
        raise PayloadError(where, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return parsed

"""Parsing and printing of durations and instants, shared by rules, sources and the API. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse a Prometheus-style duration such as ``90s``, ``10m``, ``1h30m``, ``2d``.

    Raises ValueError with a message fit for a user.
    """
    text = text.strip()
    if not text:
        raise ValueError("empty duration")
    if text == "0":
        return timedelta(0)
    pos = 0
    seconds = 0.0
    for match in _DURATION_RE.finditer(text):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        if text.replace(".", "", 1).isdigit():
            raise ValueError(f"duration {text!r} needs a unit, e.g. {text}m (units: s, m, h, d, w)")
        raise ValueError(f"{text!r} is not a duration (examples: 30s, 10m, 1h30m, 2d)")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Print a duration the way rules write it: ``10m``, ``1h30m``, ``45s``."""
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 instant with a zone into an aware UTC datetime.

    Accepts ``Z`` and nanosecond fractions (Go's time format, as Alertmanager sends).
    """
    try:  # Python 3.11 reads both itself: the common case, without the rewriting below
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass
    else:
        if parsed.tzinfo is None:
            raise ValueError(f"{text!r} has no time zone")
        return parsed.astimezone(UTC)
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Go prints up to 9 fractional digits; Python takes at most 6.
    match = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", value)
    if match:
        value = f"{match.group(1)}.{match.group(2)[:6].ljust(6, '0')}{match.group(3)}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return parsed.astimezone(UTC)


def from_unix(seconds: float) -> datetime:
    """An aware UTC datetime from Unix seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, or None."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ensure_utc(value: datetime) -> datetime:
    """Treat a naive datetime as UTC (SQLite hands them back naive) and convert aware ones to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)

"""Parsing and printing of durations and instants, shared by rules, sources and the API. Pure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

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


_DURATION_TEXTS: dict[timedelta, str] = {}
_DURATION_TEXTS_KEPT = 4096


def format_duration(delta: timedelta) -> str:
    """Print a duration the way rules write it: ``10m``, ``1h30m``, ``45s``."""
    # Reasons name the same few durations (a rule's `for:`, its flapping window) on nearly every
    # decision: a replay printed them a million times over.
    text = _DURATION_TEXTS.get(delta)
    if text is None:
        if len(_DURATION_TEXTS) >= _DURATION_TEXTS_KEPT:
            _DURATION_TEXTS.clear()
        text = _DURATION_TEXTS[delta] = _duration_text(delta)
    return text


def _duration_text(delta: timedelta) -> str:
    total = int(delta.total_seconds())
    if total == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?"
)
"""RFC 3339's date-time (section 5.6), ASCII digits only; the zone is checked by the parser so
that a time without one gets its own message."""

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, tzinfo=UTC)
"""The instants bridge takes from outside (webhooks, API queries): a monitoring event before Unix
time began or a thousand years ahead is a broken clock or a typo, and everything computed from
one (deadlines, windows) stays far from the ends of what a datetime can hold."""


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 instant (``2026-11-22T06:51:30.734253229Z``, ``...+03:00``) into an
    aware UTC datetime; raises ValueError for anything else.

    Strict: ASCII digits, a full date and time with seconds, a zone (``Z`` or ``+hh:mm``) and no
    surrounding text, so ISO 8601's other forms (week dates, basic format, a missing second) are
    refused. Fractions longer than microseconds (Go prints nanoseconds) are cut to microseconds.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(f"{text[:60]!r} is not an RFC 3339 time (e.g. 2026-11-22T06:51:30Z)")
    year, month, day, hour, minute, second, fraction, utc, sign, zone_h, zone_m = match.groups()
    if utc is None and sign is None:
        raise ValueError(f"{text[:60]!r} has no time zone")
    try:  # the pattern vouched for the form: C reads it fastest (not a lowercase t or z)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        pass  # read below, where an impossible date or offset gets its own message
    else:
        try:
            return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:00:00-05:00 lies past year 9999 in UTC
            raise ValueError(f"{text[:60]!r} is out of range") from None
    zone = UTC
    if sign is not None and (zone_h != "00" or zone_m != "00"):
        if int(zone_h) > 23 or int(zone_m) > 59:
            raise ValueError(f"{text[:60]!r} has an offset out of range")
        offset = timedelta(hours=int(zone_h), minutes=int(zone_m))
        zone = timezone(-offset if sign == "-" else offset)
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    try:
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=zone
        )
        return parsed if zone is UTC else parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00:00-05:00 lies past year 9999 in UTC
        raise ValueError(f"{text[:60]!r} is out of range") from None


_TYPED_INSTANT = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2})(:[0-9]{2}(?:\.[0-9]+)?)?"
    r"(?:([Zz])|([+-])([0-9]{2}):?([0-9]{2}))"
)
"""What a person types for an instant: RFC 3339, or with the seconds left out or an offset
without its colon (``2026-12-05T23:00Z``, ``2026-12-05 23:00+0300``). ASCII digits only."""


def parse_typed_instant(text: str) -> datetime:
    """Parse an instant a person gave (an API query, a CLI option) into an aware UTC datetime:
    RFC 3339 as `parse_instant` reads it, plus the seconds left out and ``+hhmm`` offsets, as
    people write them. Webhook bodies come from programs and are held to RFC 3339 itself."""
    match = _TYPED_INSTANT.fullmatch(text.strip())
    if match is None:
        return parse_instant(text.strip())  # says what is wrong in RFC 3339's terms
    date, hour_minute, seconds, utc, sign, zone_h, zone_m = match.groups()
    zone = "Z" if utc else f"{sign}{zone_h}:{zone_m}"
    return parse_instant(f"{date}T{hour_minute}{seconds or ':00'}{zone}")


def in_range(value: datetime) -> bool:
    """Whether an instant lies between EARLIEST and LATEST."""
    return EARLIEST <= value <= LATEST


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

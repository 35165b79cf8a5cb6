"""Reading a request of the JSON API: paging, lists and choices in the query string, the JSON body
and the values in it. Each helper raises PayloadError naming the field, which the app answers with
400: whatever a client sends, the answer is a 4xx saying what is wrong, never a database error.

Numbers are ASCII digits only (``str.isdigit`` and ``int`` take Arabic-Indic and fullwidth
ones too) and at most what a BIGINT holds; times are between `EARLIEST` and `LATEST`, so that no
arithmetic on them overflows; texts hold no NUL and no lone surrogate (PostgreSQL stores neither).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from flask import request
from werkzeug.routing import BaseConverter, ValidationError

from bridge import timeutil
from bridge.db.queries import MAX_ID, Paging
from bridge.errors import PayloadError
from bridge.priority import Priority
from bridge.sources.delivery import decode_json, unstorable_text
from bridge.timeutil import EARLIEST, LATEST, parse_duration, parse_typed_instant

MAX_PAGE = 500

_DIGITS = re.compile(r"[0-9]+")


class NumberConverter(BaseConverter):
    """``<number:...>`` in a route: an id or incident number of ASCII digits (werkzeug's `int`
    takes any Unicode digit: fullwidth "12" in the path was incident 12). One too large to be stored
    still reaches the view, whose service answers 404 "no incident ..." without asking the
    database; one of more than 30 digits matches no route (404 too)."""

    regex = r"[0-9]{1,30}"

    def to_python(self, value: str) -> int:
        if not _DIGITS.fullmatch(value):
            raise ValidationError
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


def whole_number(raw: str, name: str, least: int = 0) -> int:
    """`raw` as a whole number from `least` to MAX_ID; PayloadError otherwise."""
    stripped = raw.lstrip("0") or "0"
    if not _DIGITS.fullmatch(raw) or len(stripped) > len(str(MAX_ID)) or not least <= int(stripped) <= MAX_ID:
        raise PayloadError(name, f"must be a whole number from {least} to {MAX_ID}, got {raw[:40]!r}")
    return int(stripped)


def paging() -> Paging:
    """`?limit=50&offset=0`."""
    limit = whole_number(request.args.get("limit", "50"), "limit", 1)
    if limit > MAX_PAGE:
        raise PayloadError("limit", f"must be 1..{MAX_PAGE}")
    return Paging(limit, whole_number(request.args.get("offset", "0"), "offset"))


def arg(name: str) -> str | None:
    """A text in the query string (None when absent or empty)."""
    value = request.args.get(name)
    if not value:
        return None
    return storable(value, name)


def multi(name: str) -> list[str]:
    """``?client=a,b`` and ``?client=a&client=b`` alike."""
    return [storable(v, name) for value in request.args.getlist(name) for v in value.split(",") if v]


def choices(name: str, allowed: type[StrEnum] | Iterable[str], *, upper: bool = False) -> list[str]:
    """``?status=open,acknowledged``: words out of `allowed` (an enum's values); PayloadError
    listing the allowed ones for any other (a typo must not quietly match nothing)."""
    words = [str(getattr(a, "value", a)) for a in allowed]
    found = [v.upper() for v in multi(name)] if upper else multi(name)
    unknown = [v for v in found if v not in words]
    if unknown:
        raise PayloadError(name, f"unknown {', '.join(map(repr, unknown))}; one of {', '.join(words)}")
    return found


def number_arg(name: str) -> int | None:
    """A whole number >= 1 in the query string (an incident number), or None when absent."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    return whole_number(raw, name, 1)


def instant_arg(name: str) -> datetime | None:
    """An ISO 8601 time with a zone in the query string, or None when absent."""
    return instant(request.args.get(name), name)


def json_body() -> dict[str, Any]:
    """The JSON object posted ({} for an empty body)."""
    data = request.get_data()
    if not data:
        return {}
    example = 'must be a JSON object, e.g. {"comment": "..."}'
    if not request.is_json:
        raise PayloadError("body", f"{example}, sent as Content-Type: application/json")
    body = decode_json(data)  # the webhooks' strict decoder: names the field no database stores
    if not isinstance(body, dict):
        raise PayloadError("body", example)
    return body


def storable(value: str, name: str) -> str:
    """`value`, unless it holds a NUL or a lone surrogate, which no database column stores."""
    if reason := unstorable_text(value):
        raise PayloadError(name, reason)
    return value


def text(body: dict[str, Any], name: str, required: bool = False, longest: int | None = None) -> str:
    """A string field, stripped ("" when absent and not required), of at most `longest` characters."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise PayloadError(name, "missing")
        return ""
    if not isinstance(value, str):
        raise PayloadError(name, "must be a string")
    if longest is not None and len(value.strip()) > longest:
        raise PayloadError(name, f"at most {longest} characters")
    return value.strip()


def instant(value: Any, name: str) -> datetime | None:
    """An ISO 8601 time with a zone, or None for nothing."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(name, "must be an ISO 8601 time with a zone")
    try:
        parsed = parse_typed_instant(value)
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:00:00-05:00 is past year 9999 in UTC
        raise PayloadError(name, f"not an ISO 8601 time with a zone: {value[:60]!r}") from None
    return in_range(parsed, name)


def in_range(value: datetime, name: str) -> datetime:
    """`value` if it lies between EARLIEST and LATEST."""
    if not timeutil.in_range(value):
        raise PayloadError(name, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


def end_time(value: Any, name: str, start: datetime, what: str) -> datetime:
    """An ISO 8601 time, or a duration ("2h", "12h") counted from `start`; `what` says what ends."""
    if isinstance(value, str) and value and value[0] in "0123456789" and value[-1] in "smhdw":
        try:
            return in_range(start + parse_duration(value), name)
        except (ValueError, OverflowError) as exc:  # OverflowError: "99999999999999d"
            reason = str(exc) if isinstance(exc, ValueError) else "too long"
            raise PayloadError(name, reason) from None
    ends_at = instant(value, name)
    if ends_at is None:
        raise PayloadError(name, f"missing: when {what} ends (a time, or a duration such as 2h)")
    return ends_at


def priority(value: Any) -> Priority:
    """P1..P5, any case."""
    try:
        return Priority(str(value).upper())
    except ValueError:
        raise PayloadError("priority", "one of P1, P2, P3, P4, P5") from None

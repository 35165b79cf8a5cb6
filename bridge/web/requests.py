"""Reading a request of the JSON API: paging, lists in the query string, the JSON body and the
values in it. Each helper raises PayloadError naming the field, which the app answers with 400."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import request

from bridge.db.queries import Paging
from bridge.errors import PayloadError
from bridge.priority import Priority
from bridge.timeutil import parse_duration, parse_instant

MAX_PAGE = 500


def paging() -> Paging:
    """`?limit=50&offset=0`."""
    try:
        limit = int(request.args.get("limit", 50))
        offset = int(request.args.get("offset", 0))
    except ValueError:
        raise PayloadError("limit/offset", "must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise PayloadError("limit/offset", f"limit must be 1..{MAX_PAGE} and offset >= 0")
    return Paging(limit, offset)


def multi(name: str) -> list[str]:
    """``?status=open,acknowledged`` and ``?status=open&status=acknowledged`` alike."""
    return [v for value in request.args.getlist(name) for v in value.split(",") if v]


def number_arg(name: str) -> int | None:
    """A whole number >= 1 in the query string (an incident number), or None when absent."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise PayloadError(name, "must be an incident number")
    return int(raw)


def instant_arg(name: str) -> datetime | None:
    """An ISO 8601 time with a zone in the query string, or None when absent."""
    return instant(request.args.get(name), name)


def json_body() -> dict[str, Any]:
    """The JSON object posted ({} for an empty body)."""
    if not request.get_data():
        return {}
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise PayloadError("body", 'must be a JSON object, e.g. {"comment": "..."}')
    return body


def text(body: dict[str, Any], name: str, required: bool = False) -> str:
    """A string field, stripped ("" when absent and not required)."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise PayloadError(name, "missing")
        return ""
    if not isinstance(value, str):
        raise PayloadError(name, "must be a string")
    return value.strip()


def instant(value: Any, name: str) -> datetime | None:
    """An ISO 8601 time with a zone, or None for nothing."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise PayloadError(name, "must be an ISO 8601 time with a zone")
    try:
        return parse_instant(value)
    except ValueError:
        raise PayloadError(name, f"not an ISO 8601 time with a zone: {value!r}") from None


def end_time(value: Any, name: str, start: datetime, what: str) -> datetime:
    """An ISO 8601 time, or a duration ("2h", "12h") counted from `start`; `what` says what ends."""
    if isinstance(value, str) and value[:1].isdigit() and value[-1:] in "smhdw":
        try:
            return start + parse_duration(value)
        except ValueError as exc:
            raise PayloadError(name, str(exc)) from None
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

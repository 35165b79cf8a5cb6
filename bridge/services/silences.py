"""Silences created at run time (POST /api/silences): alerts they match are held back like in a
maintenance window until the silence ends or is expired. They apply to alerts that start to
fire while they are active; what is already an incident stays one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bridge.alert import ALERT_FIELDS
from bridge.db import timers
from bridge.db.models import SilenceRow
from bridge.db.queries import paged
from bridge.dedup.loader import valid_key
from bridge.dedup.matchers import parse_matcher
from bridge.dedup.state import EngineTimer
from bridge.errors import Conflict, NotFound, PayloadError

STATES = ("active", "pending", "expired")


def state_of(row: SilenceRow, now: datetime) -> str:
    if row.expired_at is not None or row.ends_at <= now:
        return "expired"
    return "pending" if row.starts_at > now else "active"


def validate_matchers(matchers: Any) -> dict[str, str]:
    """Matchers as rules write them ({"host": "db-01", "name": "=~Disk.*"}); PayloadError if wrong."""
    if not isinstance(matchers, Mapping) or not matchers:
        raise PayloadError(
            "matchers", 'must be a non-empty object of field or label to matcher, e.g. {"host": "db-01"}'
        )
    clean: dict[str, str] = {}
    for key, expression in matchers.items():
        if not isinstance(key, str) or not valid_key(key):
            raise PayloadError(
                f"matchers.{key}", f"not a field ({', '.join(sorted(ALERT_FIELDS))}) nor a label name"
            )
        if not isinstance(expression, str | int | float) or isinstance(expression, bool):
            raise PayloadError(f"matchers.{key}", "must be a value such as 'db-01', '=~db-.*' or '!=info'")
        try:
            parse_matcher(key, str(expression))
        except ValueError as exc:
            raise PayloadError(f"matchers.{key}", str(exc)) from None
        clean[key] = str(expression)
    return clean


def create(
    session: Session,
    matchers: dict[str, str],
    starts_at: datetime,
    ends_at: datetime,
    author: str,
    comment: str,
    now: datetime,
) -> SilenceRow:
    if ends_at <= starts_at:
        raise PayloadError("ends_at", "must be after starts_at")
    if ends_at <= now:
        raise PayloadError("ends_at", "is in the past")
    row = SilenceRow(
        matchers=matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        author=author,
        comment=comment,
        created_at=now,
    )
    session.add(row)
    session.flush()
    timers.schedule(session, EngineTimer.RELEASE.value, f"silence:{row.id}", ends_at)
    return row


def expire(session: Session, silence_id: int, now: datetime) -> SilenceRow:
    """End a silence now; what it held back and still fires is decided again at once."""
    row = session.get(SilenceRow, silence_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no silence {silence_id}")
    if state_of(row, now) == "expired":
        raise Conflict(f"silence {silence_id} has already ended")
    row.expired_at = now
    row.ends_at = min(row.ends_at, now)
    timers.schedule(session, EngineTimer.RELEASE.value, f"silence:{row.id}", now)
    return row


def get(session: Session, silence_id: int) -> SilenceRow:
    row = session.get(SilenceRow, silence_id)
    if row is None:
        raise NotFound(f"no silence {silence_id}")
    return row


def list_silences(
    session: Session, states: Sequence[str], now: datetime, limit: int, offset: int
) -> tuple[list[SilenceRow], int]:
    statement = select(SilenceRow)
    wanted = set(states)
    if wanted and wanted != set(STATES):
        conditions = []
        if "active" in wanted:
            conditions.append(
                (SilenceRow.expired_at.is_(None)) & (SilenceRow.starts_at <= now) & (SilenceRow.ends_at > now)
            )
        if "pending" in wanted:
            conditions.append((SilenceRow.expired_at.is_(None)) & (SilenceRow.starts_at > now))
        if "expired" in wanted:
            conditions.append((SilenceRow.expired_at.is_not(None)) | (SilenceRow.ends_at <= now))
        statement = statement.where(or_(*conditions))
    return paged(session, statement, [SilenceRow.id.desc()], limit, offset)

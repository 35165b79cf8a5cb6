"""Silences created at run time (POST /api/silences): alerts they match are held back like in a
maintenance window until the silence ends or is expired. They apply to alerts that start to
fire while they are active; what is already an incident stays one."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import ALERT_FIELDS
from bridge.clock import Clock
from bridge.db import timers
from bridge.db.models import SilenceRow
from bridge.db.queries import Page, Paging, can_exist, paged
from bridge.dedup.loader import valid_key
from bridge.dedup.matchers import parse_matcher
from bridge.dedup.state import EngineTimer, Silence
from bridge.errors import Conflict, NotFound, PayloadError
from bridge.services.handoff import Handoff

log = logging.getLogger(__name__)

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


def silence_from_row(row: SilenceRow) -> Silence:
    """A stored silence as the engine's run-time context holds it."""
    matchers = tuple(parse_matcher(key, str(expression)) for key, expression in row.matchers.items())
    return Silence(
        id=row.id,
        matchers=matchers,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        author=row.author,
        comment=row.comment,
    )


class SilenceService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, handoff: Handoff) -> None:
        self.sessions = sessions
        self.clock = clock
        self.handoff = handoff

    def create(
        self, matchers: object, starts_at: datetime | None, ends_at: datetime, actor: str, comment: str
    ) -> SilenceRow:
        """Hold back alerts matching `matchers` from `starts_at` (default now) until `ends_at`;
        `actor` is its author. PayloadError when the matchers or the times are wrong."""
        now = self.clock.now()
        clean = validate_matchers(matchers)
        starts_at = starts_at or now
        if ends_at <= starts_at:
            raise PayloadError("ends_at", "must be after starts_at")
        if ends_at <= now:
            raise PayloadError("ends_at", "is in the past")
        with self.sessions() as session, session.begin():
            row = SilenceRow(
                matchers=clean,
                starts_at=starts_at,
                ends_at=ends_at,
                author=actor,
                comment=comment,
                created_at=now,
            )
            session.add(row)
            session.flush()
            timers.schedule(session, EngineTimer.RELEASE.value, f"silence:{row.id}", ends_at)
        return row

    def expire(self, silence_id: int, actor: str) -> SilenceRow:
        """End a silence now; what it held back and still fires is decided again at once."""
        now = self.clock.now()
        if not can_exist(silence_id):
            raise NotFound(f"no silence {silence_id}")
        with self.sessions() as session, session.begin():
            row = session.get(SilenceRow, silence_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no silence {silence_id}")
            if state_of(row, now) == "expired":
                raise Conflict(f"silence {silence_id} has already ended")
            row.expired_at = now
            row.ends_at = min(row.ends_at, now)
            timers.schedule(session, EngineTimer.RELEASE.value, f"silence:{row.id}", now)
        log.info("silence %d expired by %s", silence_id, actor)
        self.handoff.work()  # the release timer is due now
        return row

    def get(self, silence_id: int) -> SilenceRow:
        if not can_exist(silence_id):
            raise NotFound(f"no silence {silence_id}")
        with self.sessions() as session:
            row = session.get(SilenceRow, silence_id)
        if row is None:
            raise NotFound(f"no silence {silence_id}")
        return row

    def list(self, states: Sequence[str], paging: Paging) -> Page[SilenceRow]:
        """Silences in these states (active, pending, expired; all when none), newest first."""
        for state in states:
            if state not in STATES:
                raise PayloadError("state", f"one of {', '.join(STATES)}")
        now = self.clock.now()
        statement = select(SilenceRow)
        wanted = set(states)
        if wanted and wanted != set(STATES):
            conditions = []
            if "active" in wanted:
                conditions.append(
                    (SilenceRow.expired_at.is_(None))
                    & (SilenceRow.starts_at <= now)
                    & (SilenceRow.ends_at > now)
                )
            if "pending" in wanted:
                conditions.append((SilenceRow.expired_at.is_(None)) & (SilenceRow.starts_at > now))
            if "expired" in wanted:
                conditions.append((SilenceRow.expired_at.is_not(None)) | (SilenceRow.ends_at <= now))
            statement = statement.where(or_(*conditions))
        with self.sessions() as session:
            return paged(session, statement, [SilenceRow.id.desc()], paging)

"""Who is on duty: per schedule at a time, the shifts of a period, who would own a new incident,
and the run-time overrides people make (someone covers a shift)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db import per_transaction
from bridge.db.models import OncallOverride
from bridge.db.queries import can_exist
from bridge.errors import NotFound, PayloadError
from bridge.schedule.rotation import OnDuty, Override, Schedule, shifts, who_is_on_duty
from bridge.services.live import LiveRota
from bridge.ticketing.rota import Assignment, Rota
from bridge.yamldoc import did_you_mean

log = logging.getLogger(__name__)

_CACHE = per_transaction.key("bridge.oncall_overrides")


def overrides(session: Session, since: datetime) -> dict[str, tuple[Override, ...]]:
    """Run-time overrides per schedule that end after `since` (cancelled ones excluded), or a few
    that ended before: extra ones change no answer. Read once per transaction (a batch opening
    many incidents asks for each), and again when asked about an earlier time or after a change."""
    cached = session.info.get(_CACHE)
    if cached is not None and cached[0] <= since:
        found_before: dict[str, tuple[Override, ...]] = cached[1]
        return found_before
    found: dict[str, list[Override]] = defaultdict(list)
    query = (
        select(OncallOverride)
        .where(OncallOverride.ends_at > since, OncallOverride.cancelled_at.is_(None))
        .order_by(OncallOverride.id)
    )
    for row in session.scalars(query):
        found[row.schedule].append(Override(row.person, row.starts_at, row.ends_at, row.reason or None))
    result = {name: tuple(items) for name, items in found.items()}
    session.info[_CACHE] = (since, result)
    return result


def with_overrides(rota: Rota, name: str, extra: dict[str, tuple[Override, ...]]) -> Schedule:
    schedule = rota.schedules[name]
    return Schedule(schedule.name, schedule.layers, schedule.overrides + extra.get(name, ()))


@dataclass(frozen=True, slots=True)
class DutyNow:
    schedule: str
    duty: OnDuty | None


@dataclass(frozen=True, slots=True)
class OnCallNow:
    """Who is on duty at `at` per schedule, and who would own a new incident of each client
    (None: an incident of no client)."""

    at: datetime
    rota: Rota
    duties: list[DutyNow]
    responsible: dict[str | None, Assignment | None]


@dataclass(frozen=True, slots=True)
class ComingShifts:
    rota: Rota
    shifts: dict[str, list[OnDuty]]


class OncallService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, rota: LiveRota) -> None:
        self.sessions = sessions
        self.clock = clock
        self.live = rota

    def now(self, at: datetime | None = None, only: str | None = None) -> OnCallNow:
        """Who is on duty at `at` (default now) in every schedule (or just `only`), and who owns
        a new incident of each client then."""
        at = at or self.clock.now()
        rota = self.live.rota
        names = _names(rota, only)
        with self.sessions() as session:
            extra = overrides(session, at - timedelta(days=1))
        duties = [DutyNow(name, who_is_on_duty(with_overrides(rota, name, extra), at)) for name in names]
        owners = {client: rota.responsible_for(client, at, extra) for client in [*rota.clients, None]}
        return OnCallNow(at, rota, duties, owners)

    def shifts(self, start: datetime, end: datetime, only: str | None = None) -> ComingShifts:
        """The shifts of [start, end) per schedule."""
        rota = self.live.rota
        names = _names(rota, only)
        with self.sessions() as session:
            extra = overrides(session, start)
        return ComingShifts(
            rota, {name: shifts(with_overrides(rota, name, extra), start, end) for name in names}
        )

    def create_override(
        self,
        schedule: str,
        person: str,
        starts_at: datetime | None,
        ends_at: datetime,
        reason: str,
        actor: str,
    ) -> OncallOverride:
        """`person` covers `schedule` over [starts_at (default now), ends_at); `actor` made it."""
        now = self.clock.now()
        rota = self.live.rota
        starts_at = starts_at or now
        _names(rota, schedule)
        if person not in rota.people:
            raise PayloadError(
                "person", f"unknown person {person!r}{did_you_mean(person, list(rota.people))}"
            )
        if ends_at <= starts_at:
            raise PayloadError("ends_at", "must be after starts_at")
        with self.sessions() as session, session.begin():
            row = OncallOverride(
                schedule=schedule,
                person=person,
                starts_at=starts_at,
                ends_at=ends_at,
                reason=reason,
                author=actor,
                created_at=now,
            )
            session.add(row)
        return row

    def list_overrides(self) -> list[OncallOverride]:
        """Overrides that have not ended yet, by start."""
        query = (
            select(OncallOverride)
            .where(OncallOverride.ends_at > self.clock.now())
            .order_by(OncallOverride.starts_at)
        )
        with self.sessions() as session:
            return list(session.scalars(query))

    def cancel_override(self, override_id: int, actor: str) -> OncallOverride:
        if not can_exist(override_id):
            raise NotFound(f"no override {override_id}")
        with self.sessions() as session, session.begin():
            row = session.get(OncallOverride, override_id, with_for_update=True)
            if row is None:
                raise NotFound(f"no override {override_id}")
            if row.cancelled_at is None:
                row.cancelled_at = self.clock.now()
                log.info("override %d cancelled by %s", override_id, actor)
        return row


def _names(rota: Rota, only: str | None) -> list[str]:
    if only is None:
        return list(rota.schedules)
    if only not in rota.schedules:
        raise NotFound(f"no schedule {only!r}{did_you_mean(only, list(rota.schedules))}")
    return [only]

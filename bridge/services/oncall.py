"""On-call services: run-time overrides (someone covers a shift) and who is on duty when."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from bridge.db.models import OncallOverride
from bridge.errors import NotFound, PayloadError
from bridge.schedule.rotation import OnDuty, Override, Schedule, shifts, who_is_on_duty
from bridge.ticketing.rota import Rota
from bridge.yamldoc import did_you_mean

_CACHE = "bridge.oncall_overrides"


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


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_CACHE, None)


def with_overrides(rota: Rota, name: str, extra: dict[str, tuple[Override, ...]]) -> Schedule:
    schedule = rota.schedules[name]
    return Schedule(schedule.name, schedule.layers, schedule.overrides + extra.get(name, ()))


@dataclass(frozen=True, slots=True)
class DutyNow:
    schedule: str
    duty: OnDuty | None


def on_duty(session: Session, rota: Rota, at: datetime, only: str | None = None) -> list[DutyNow]:
    """Who is on duty at `at` in every schedule (or just `only`)."""
    names = _names(rota, only)
    extra = overrides(session, at - timedelta(days=1))
    return [DutyNow(name, who_is_on_duty(with_overrides(rota, name, extra), at)) for name in names]


def coming_shifts(
    session: Session, rota: Rota, start: datetime, end: datetime, only: str | None = None
) -> dict[str, list[OnDuty]]:
    """The shifts of [start, end) per schedule."""
    extra = overrides(session, start)
    return {name: shifts(with_overrides(rota, name, extra), start, end) for name in _names(rota, only)}


def create_override(
    session: Session,
    rota: Rota,
    schedule: str,
    person: str,
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    author: str,
    now: datetime,
) -> OncallOverride:
    """`person` covers `schedule` over [starts_at, ends_at)."""
    _names(rota, schedule)
    if person not in rota.people:
        raise PayloadError("person", f"unknown person {person!r}{did_you_mean(person, list(rota.people))}")
    if ends_at <= starts_at:
        raise PayloadError("ends_at", "must be after starts_at")
    row = OncallOverride(
        schedule=schedule,
        person=person,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason,
        author=author,
        created_at=now,
    )
    session.add(row)
    session.flush()
    session.info.pop(_CACHE, None)
    return row


def list_overrides(session: Session, since: datetime) -> Sequence[OncallOverride]:
    query = select(OncallOverride).where(OncallOverride.ends_at > since).order_by(OncallOverride.starts_at)
    return session.scalars(query).all()


def cancel_override(session: Session, override_id: int, now: datetime) -> OncallOverride:
    row = session.get(OncallOverride, override_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no override {override_id}")
    if row.cancelled_at is None:
        row.cancelled_at = now
    session.info.pop(_CACHE, None)
    return row


def _names(rota: Rota, only: str | None) -> list[str]:
    if only is None:
        return list(rota.schedules)
    if only not in rota.schedules:
        raise NotFound(f"no schedule {only!r}{did_you_mean(only, list(rota.schedules))}")
    return [only]

"""What `rota.yaml` says about reports, and the pure calendar questions the reports ask of it: the
desk's night (for "pages per person per night") and the weekly and monthly periods of the SLA
report sent by e-mail. No I/O, no clock: every function takes the instant it reasons about.

- `night_of(at, tz, night)`: the night an instant falls in (named by the local date it began on),
  or None in the daytime.
- `last_period(kind, at, tz, send_at)`: the latest weekly (Monday 00:00 to Monday 00:00) or monthly
  (1st 00:00 to 1st 00:00) period, in local wall-clock time, whose mail is due at `at`: a period's
  mail goes out at `send_at` local time on the day it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bridge.schedule.wallclock import wall_to_utc


class ReportPeriod(StrEnum):
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class Recipients(StrEnum):
    """Who gets the SLA report by e-mail, besides the people named by handle."""

    HEAD_OF_IT = "head_of_it"  # every person with role head_of_it: the report of every client
    CLIENTS = "clients"  # each client's `contact:`: the report of that client only


@dataclass(frozen=True, slots=True)
class Night:
    """The desk's night hours, local wall-clock: from `start` to `end` (the next day when `end` is
    not after `start`; equal, they make 24 hours)."""

    start: time = time(21, 0)
    end: time = time(9, 0)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


DEFAULT_NIGHT = Night()
"""21:00-09:00: the night shift of a desk that works in two 12-hour shifts (the example rota)."""


@dataclass(frozen=True, slots=True)
class Contact:
    """A client's contact: who receives the client's SLA report."""

    name: str
    email: str


@dataclass(frozen=True, slots=True)
class SlaMail:
    """The SLA report by e-mail: which periods, at what local time, to whom."""

    periods: tuple[ReportPeriod, ...] = (ReportPeriod.WEEKLY, ReportPeriod.MONTHLY)
    send_at: time = time(8, 0)
    to: tuple[Recipients, ...] = (Recipients.HEAD_OF_IT, Recipients.CLIENTS)
    people: tuple[str, ...] = ()  # handles of further recipients (the report of every client)


@dataclass(frozen=True, slots=True)
class ReportSettings:
    """The `reports:` section of rota.yaml; the SLA mail is off (None) unless the file asks for it."""

    night: Night = DEFAULT_NIGHT
    sla_mail: SlaMail | None = None


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC, with its kind and its first local date (its name: "weekly 2026-11-23")."""

    kind: ReportPeriod
    first_day: date
    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.first_day.isoformat()}"

    def __str__(self) -> str:
        last = self.first_day + (self.end - self.start) - timedelta(days=1)
        if self.kind is ReportPeriod.MONTHLY:
            return f"{self.first_day:%B %Y}"
        return f"week {self.first_day.isoformat()} - {last.isoformat()}"


def night_of(at: datetime, tz: ZoneInfo, night: Night) -> date | None:
    """The local date the night containing `at` began on, or None when `at` is not at night."""
    local = at.astimezone(tz)
    clock, today = local.time().replace(tzinfo=None), local.date()
    if night.start < night.end:  # within one date, e.g. 00:00-06:00
        return today if night.start <= clock < night.end else None
    if clock >= night.start:  # (start == end: 24 hours from `start`, a night that never ends)
        return today
    if clock < night.end:
        return today - timedelta(days=1)
    return None


def period_starting(kind: ReportPeriod, first_day: date, tz: ZoneInfo) -> Period:
    """The period of `kind` that begins on local date `first_day` (a Monday, or a 1st)."""
    following = first_day + timedelta(days=7) if kind is ReportPeriod.WEEKLY else _next_month(first_day)
    return Period(kind, first_day, wall_to_utc(first_day, time(0), tz), wall_to_utc(following, time(0), tz))


def last_period(kind: ReportPeriod, at: datetime, tz: ZoneInfo, send_at: time) -> Period:
    """The latest period of `kind` whose mail is due at `at` (it ended, and `send_at` local time
    of its last day's morrow has come)."""
    today = at.astimezone(tz).date()
    current = _period_start(kind, today)
    if at < wall_to_utc(current, send_at, tz):  # this morning's mail is not due yet
        current = _period_start(kind, current - timedelta(days=1))
    previous = _period_start(kind, current - timedelta(days=1))
    return period_starting(kind, previous, tz)


def send_time(period: Period, tz: ZoneInfo, send_at: time) -> datetime:
    """When the mail of `period` is due: `send_at` local time on the day after its last day."""
    end_day = (
        period.first_day + timedelta(days=7)
        if period.kind is ReportPeriod.WEEKLY
        else _next_month(period.first_day)
    )
    return wall_to_utc(end_day, send_at, tz)


def _period_start(kind: ReportPeriod, day: date) -> date:
    if kind is ReportPeriod.WEEKLY:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)

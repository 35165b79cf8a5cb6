"""Service calendars for SLA clocks: business hours in a zone, minus holidays. Pure.

Service time is real elapsed time inside service hours: an hour of service is an hour of the
world's clock, so business hours over a DST change are as long as they really are (see
`bridge.schedule.windows` for how wall-clock hours map to instants).

- `hours` empty means 24/7: every instant is service time.
- A holiday is a whole local date, from its 00:00 to the next day's 00:00 in the calendar's zone,
  with no service time; this applies to 24/7 calendars too (pass no holidays for a clock that
  never stops). Hours that run overnight into a holiday stop at its midnight.
- `business_day()` is the nominal service time of a typical open day, so that "1 business day"
  can be counted as that much service time (see its docstring).

Clocks walk service spans one occurrence at a time, never minute by minute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.schedule.wallclock import as_utc, day_of, day_start
from bridge.schedule.windows import Span, WeeklyWindow, iter_union, nominal_week

_DAY = timedelta(days=1)
_ALWAYS = (WeeklyWindow(frozenset(range(7)), time(0), time(0)),)


@dataclass(frozen=True, slots=True)
class ServiceCalendar:
    """When an SLA clock runs: `hours` (empty: 24/7) in zone `tz`, except on `holidays`."""

    tz: ZoneInfo
    hours: tuple[WeeklyWindow, ...] = ()
    holidays: frozenset[date] = frozenset()

    def service_spans(self, since: datetime) -> Iterator[Span]:
        """Disjoint service spans from `since` on, in order, the first clipped to start at `since`
        at the earliest; endless."""
        for start, end in iter_union(self.hours or _ALWAYS, since, self.tz):
            if self.holidays:
                yield from self._without_holidays(start, end)
            else:
                yield start, end

    def _without_holidays(self, start: datetime, end: datetime) -> Iterator[Span]:
        day = day_of(start, self.tz)
        if not any(day + offset * _DAY in self.holidays for offset in range((end - start).days + 3)):
            yield start, end  # the usual case: no holiday near, so no need to cut at midnights
            return
        position = start
        while position < end:
            cut = min(end, day_start(day + _DAY, self.tz))
            if day not in self.holidays and cut > position:
                yield position, cut
            position = max(position, cut)
            day += _DAY

    def is_open(self, at: datetime) -> bool:
        """Is `at` service time?"""
        at = as_utc(at)
        return next(self.service_spans(at))[0] == at

    def add(self, start: datetime, service_time: timedelta) -> datetime:
        """The instant (UTC) when `service_time` of service has elapsed after `start`.

        Outside service hours the clock starts at the next opening; ``add(start, timedelta(0))`` is
        `start` itself when open, otherwise the next opening. A span that uses up the service time
        exactly ends the clock at its closing instant, not at the next opening.
        """
        if service_time < timedelta(0):
            raise ValueError(f"service time cannot be negative ({service_time})")
        remaining = service_time
        for span_start, span_end in self.service_spans(start):
            if span_end - span_start >= remaining:
                return span_start + remaining
            remaining -= span_end - span_start
        raise AssertionError("unreachable: service spans never run out")  # pragma: no cover

    def between(self, a: datetime, b: datetime) -> timedelta:
        """Service time elapsed from `a` to `b` (zero if `b` is not after `a`)."""
        b = as_utc(b)
        total = timedelta(0)
        if b <= as_utc(a):
            return total
        for span_start, span_end in self.service_spans(a):
            if span_start >= b:
                break
            total += min(span_end, b) - span_start
        return total

    def business_day(self) -> timedelta:
        """The service time of a typical open day: the most common nominal service time among the
        weekdays that have any (on a week without DST changes or holidays, cut at local midnights),
        the longer one on a tie. 9h for ``mon-fri 09:00-18:00``, also with ``sat 10:00-14:00``
        added; 24h for 24/7; 8h for ``mon-fri 09:00-13:00`` plus ``mon-fri 14:00-18:00``."""
        week = nominal_week(self.hours or _ALWAYS)
        per_day = Counter[timedelta]()
        for day in range(7):
            day_begins, day_ends = day * _DAY, (day + 1) * _DAY
            served = timedelta(0)
            for start, end in week:
                served += max(timedelta(0), min(end, day_ends) - max(start, day_begins))
            if served:
                per_day[served] += 1
        return max(per_day, key=lambda served: (per_day[served], served))

"""Recurring time-of-week windows ("sat 01:00-05:00", "mon-fri 09:00-18:00") and one-off ones. Pure.

A `WeeklyWindow` is a set of weekdays and a wall-clock start and end. It is read in a named zone
given at each call, so one window serves rules in several zones. An end at or before the start
means overnight: the occurrence starts on the listed day and ends on the next day (so an end of
``24:00``, stored as 00:00, ends at the next midnight; ``00:00-24:00`` is a whole day, and an
end equal to the start is 24 hours from it, e.g. ``10:00-10:00``).

DST: windows are wall-clock.
- On a spring-forward day ``01:00-05:00`` still runs from local 01:00 to local 05:00, which is
  three real hours. A boundary inside the skipped hour moves forward to the first instant after
  the gap (the instant of the change): in Europe/Berlin on 2026-03-29, ``02:30`` means 03:00 CEST.
- On a fall-back day ``01:00-05:00`` includes the repeated hour, five real hours. A boundary on a
  repeated wall time takes its first occurrence (``fold=0``): ``02:30`` on 2026-10-25 in
  Europe/Berlin means 02:30 CEST, not 02:30 CET.
- Under these rules a later wall time never maps to an earlier instant, and a wall time always
  maps to the same instant, so occurrences never overlap, and windows that cover everything (``00:00-24:00``
  every day) tile time exactly across DST changes. An occurrence that the rules make empty (both
  ends inside one gap) does not happen that day.

All instants returned are aware UTC datetimes; naive datetimes are refused with ValueError.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bridge.schedule.wallclock import as_utc, local_date, wall_to_utc

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_SHORT = ", ".join(name[:3] for name in DAY_NAMES)
_ALL_DAYS = frozenset(range(7))
_DAY_SETS = {
    "daily": _ALL_DAYS,
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_TIME_RE = re.compile(r"(\d{1,2}):(\d{2})")
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)
# How far back an occurrence that still holds an instant can have started: the day before, and one
# more day for a fall-back that repeats a midnight (the second pass has the earlier date).
_LOOKBACK = 2
_EXAMPLES = "examples: sat 01:00-05:00, mon-fri 09:00-18:00, fri-mon 22:00-06:00, weekends"

Span = tuple[datetime, datetime]
"""A half-open [start, end) of aware UTC instants."""


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Weekdays (0=Monday..6=Sunday) and a wall-clock [start, end); end <= start runs overnight."""

    days: frozenset[int]
    start: time
    end: time  # 00:00 here is "24:00" whenever it ends the day (see the module docstring)

    def __post_init__(self) -> None:
        if not self.days:
            raise ValueError("a window needs at least one day")
        if not self.days <= _ALL_DAYS:
            raise ValueError(f"weekdays are 0 (Monday) to 6 (Sunday), not {sorted(self.days)}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window times are wall-clock times: give them without a zone")

    @property
    def overnight(self) -> bool:
        """Does an occurrence end on the day after it starts?"""
        return self.end <= self.start

    @property
    def length(self) -> timedelta:
        """The nominal length of one occurrence (what it would be on a day without DST changes)."""
        length = _since_midnight(self.end) - _since_midnight(self.start)
        return length + _DAY if self.overnight else length

    def weekly_duration(self) -> timedelta:
        """Nominal time covered per week; smaller is more specific."""
        return len(self.days) * self.length

    def occurrence_on(self, day: date, tz: ZoneInfo) -> Span | None:
        """The occurrence that starts on local `day`, in UTC; None if the window is not on that day
        (or DST swallowed it whole)."""
        if day.weekday() not in self.days:
            return None
        start = wall_to_utc(day, self.start, tz)
        end = wall_to_utc(day + _DAY if self.overnight else day, self.end, tz)
        return (start, end) if start < end else None

    def iter_occurrences(self, since: datetime, tz: ZoneInfo) -> Iterator[Span]:
        """Occurrences that end after `since`, in order, without end (the first may hold `since`)."""
        since = as_utc(since)
        day = local_date(since, tz) - _LOOKBACK * _DAY
        while True:
            span = self.occurrence_on(day, tz)
            if span is not None and span[1] > since:
                yield span
            day += _DAY

    def occurrences(self, since: datetime, until: datetime, tz: ZoneInfo) -> list[Span]:
        """Occurrences that overlap [since, until), unclipped, in order."""
        until = as_utc(until)
        spans = []
        for span in self.iter_occurrences(since, tz):
            if span[0] >= until:
                break
            spans.append(span)
        return spans

    def occurrence(self, at: datetime, tz: ZoneInfo) -> Span | None:
        """The [start, end) in UTC of the occurrence that holds `at`, or None."""
        at = as_utc(at)
        span = next(self.iter_occurrences(at, tz))
        return span if span[0] <= at else None

    def contains(self, at: datetime, tz: ZoneInfo) -> bool:
        """Is `at` inside an occurrence of this window?"""
        return self.occurrence(at, tz) is not None

    def next_start(self, at: datetime, tz: ZoneInfo) -> datetime:
        """The first occurrence start strictly after `at`, in UTC."""
        at = as_utc(at)
        for start, _ in self.iter_occurrences(at, tz):
            if start > at:
                return start
        raise AssertionError("unreachable: a window recurs every week")  # pragma: no cover

    def __str__(self) -> str:
        days = _format_days(self.days)
        if self.start == self.end == time(0):
            return days
        end = "24:00" if self.end == time(0) else _format_time(self.end)
        return f"{days} {_format_time(self.start)}-{end}"


@dataclass(frozen=True, slots=True)
class OneOff:
    """A single [start, end) between two aware instants, e.g. a planned maintenance."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if as_utc(self.end) < as_utc(self.start):
            raise ValueError(
                f"window ends ({self.end.isoformat()}) before it starts ({self.start.isoformat()})"
            )

    def contains(self, at: datetime) -> bool:
        """Is `at` in [start, end)?"""
        return self.start <= as_utc(at) < self.end


# -- several windows together ---------------------------------------------------------------------


def iter_union(windows: Iterable[WeeklyWindow], since: datetime, tz: ZoneInfo) -> Iterator[Span]:
    """The union of the windows' occurrences from `since` on, as disjoint spans in order, clipped
    to start no earlier than `since`. Touching spans are not joined (the union may never end)."""
    since = as_utc(since)
    streams = [window.iter_occurrences(since, tz) for window in windows]
    cursor = since
    for occurrence_start, end in heapq.merge(*streams):
        start = max(occurrence_start, cursor)
        if end > start:
            yield start, end
            cursor = end


def coverage(windows: Iterable[WeeklyWindow], since: datetime, until: datetime, tz: ZoneInfo) -> list[Span]:
    """The union of the windows' occurrences within [since, until), as disjoint, non-touching spans."""
    until = as_utc(until)
    spans: list[Span] = []
    for start, union_end in iter_union(windows, since, tz):
        if start >= until:
            break
        end = min(union_end, until)
        if spans and spans[-1][1] == start:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def nominal_week(windows: Iterable[WeeklyWindow]) -> list[tuple[timedelta, timedelta]]:
    """The union of the windows on a week without DST, as sorted disjoint [start, end) offsets from
    Monday 00:00 (a span that wraps past Sunday midnight is split in two)."""
    pieces: list[tuple[timedelta, timedelta]] = []
    for window in windows:
        for day in window.days:
            start = day * _DAY + _since_midnight(window.start)
            end = start + window.length
            if end > _WEEK:
                pieces += [(start, _WEEK), (timedelta(0), end - _WEEK)]
            else:
                pieces.append((start, end))
    merged: list[tuple[timedelta, timedelta]] = []
    for start, end in sorted(pieces):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def union_weekly_duration(windows: Iterable[WeeklyWindow]) -> timedelta:
    """Nominal time per week covered by any of the windows (overlaps counted once)."""
    return sum((end - start for start, end in nominal_week(windows)), timedelta(0))


# -- parsing --------------------------------------------------------------------------------------


def parse_window(text: str) -> WeeklyWindow:
    """Parse ``[days] [HH:MM-HH:MM]``: ``sat 01:00-05:00``, ``mon-fri 09:00-18:00``, ``weekends``,
    ``20:00-08:00`` (every day), ``fri-mon 22:00-06:00`` (ranges wrap over the week's end).

    Raises ValueError with a message fit for a user.
    """
    words = re.sub(r"\s*([,\-])\s*", r"\1", text.strip().lower().replace("\u2013", "-")).split()
    if not words:
        raise ValueError(f"empty window ({_EXAMPLES})")
    if len(words) > 2:
        raise ValueError(f"{text!r}: expected days and a time range, e.g. 'mon-fri 09:00-18:00'")
    if len(words) == 2 and _looks_like_times(words[0]):
        raise ValueError(f"{text!r}: days come before the time range, e.g. 'mon-fri 09:00-18:00'")
    if len(words) == 1 and _looks_like_times(words[0]):
        return WeeklyWindow(_ALL_DAYS, *_parse_times(text, words[0]))
    days = _parse_days(text, words[0])
    if len(words) == 1:
        return WeeklyWindow(days, time(0), time(0))
    start, end = _parse_times(text, words[1])
    return WeeklyWindow(days, start, end)


def _looks_like_times(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def _parse_days(text: str, word: str) -> frozenset[int]:
    days: set[int] = set()
    for item in word.split(","):
        if not item:
            raise ValueError(f"{text!r}: empty day in the list {word!r}")
        if item in _DAY_SETS:
            days |= _DAY_SETS[item]
            continue
        if "-" in item:
            first, _, last = item.partition("-")
            if not first or not last or "-" in last:
                raise ValueError(f"{text!r}: {item!r} is not a day range (e.g. mon-fri, fri-mon)")
            low, high = _day(text, first), _day(text, last)
            days.update((low + step) % 7 for step in range((high - low) % 7 + 1))
        else:
            days.add(_day(text, item))
    return frozenset(days)


def _day(text: str, name: str) -> int:
    """mon..sun, full names, or any abbreviation of at least three letters (tues, thurs)."""
    if len(name) >= 3:
        for number, full in enumerate(DAY_NAMES):
            if full.startswith(name):
                return number
    raise ValueError(f"{text!r}: unknown day {name!r} ({_SHORT})")


def _parse_times(text: str, word: str) -> tuple[time, time]:
    first, dash, last = word.partition("-")
    if not dash or not first or not last:
        raise ValueError(f"{text!r}: a window needs a start and an end (HH:MM-HH:MM)")
    start = _parse_time(text, first)
    if start is None:
        raise ValueError(f"{text!r}: 24:00 can only end a window (start at 00:00 instead)")
    end = _parse_time(text, last)
    return start, time(0) if end is None else end


def _parse_time(text: str, word: str) -> time | None:
    """HH:MM, or None for 24:00."""
    match = _TIME_RE.fullmatch(word)
    hour, minute = (int(match.group(1)), int(match.group(2))) if match else (-1, -1)
    if (hour, minute) == (24, 0):
        return None
    if not (0 <= hour < 24 and 0 <= minute < 60):
        raise ValueError(f"{text!r}: {word} is not a time of day (HH:MM, 00:00-24:00)")
    return time(hour, minute)


# -- printing -------------------------------------------------------------------------------------


def _format_days(days: frozenset[int]) -> str:
    """``daily``, or runs of days (wrapping over the week's end): ``mon-fri``, ``sat,sun``, ``fri-mon``."""
    if days == _ALL_DAYS:
        return "daily"
    first = next(day for day in range(7) if (day - 1) % 7 not in days and day in days)
    parts: list[str] = []
    run: list[int] = []
    for step in range(8):  # one past a week closes the last run
        day = (first + step) % 7
        if day in days and step < 7:
            run.append(day)
            continue
        if len(run) >= 3:
            parts.append(f"{DAY_NAMES[run[0]][:3]}-{DAY_NAMES[run[-1]][:3]}")
        else:
            parts += [DAY_NAMES[d][:3] for d in run]
        run = []
    return ",".join(parts)


def _format_time(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second or value.microsecond else "%H:%M")


def _since_midnight(value: time) -> timedelta:
    return timedelta(
        hours=value.hour, minutes=value.minute, seconds=value.second, microseconds=value.microsecond
    )

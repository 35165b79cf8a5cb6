"""Wall-clock times in a named zone to instants and back, with one rule for DST. Pure.

A wall-clock time that does not exist (skipped by a spring-forward change) moves forward to the
first instant after the gap, i.e. the instant of the change itself. A wall-clock time that happens
twice (repeated by a fall-back change) means its first occurrence (``fold=0``). Under these rules
the map from wall-clock time to instant never goes backwards, which is what keeps consecutive
occurrences and shifts from overlapping or leaving gaps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_MICROSECOND = timedelta(microseconds=1)


def as_utc(at: datetime) -> datetime:
    """An aware instant in UTC; a naive datetime is refused (its zone would be a guess)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at.isoformat()} has no time zone (pass an aware datetime)")
    return at.astimezone(UTC)


def local_date(at: datetime, tz: ZoneInfo) -> date:
    """The wall-clock date of an aware instant in `tz`."""
    return as_utc(at).astimezone(tz).date()


def wall_to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant (UTC) of wall-clock `day` `at` in `tz`, by the module's DST rule."""
    wall = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    first = wall.replace(tzinfo=tz)
    utc = first.astimezone(UTC)
    if utc.astimezone(tz).replace(tzinfo=None) == wall:
        return utc  # it exists; fold=0 already is the first of two when it is repeated
    return _end_of_gap(wall, tz)


def _end_of_gap(wall: datetime, tz: ZoneInfo) -> datetime:
    """The instant of the change that skipped `wall`. zoneinfo does not expose its transitions, so
    bisect between the two readings of `wall`: with the offset after the change it lands before
    the change, with the offset before it lands after."""
    before = wall.replace(tzinfo=tz, fold=1).astimezone(UTC)
    after = wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
    old_offset = before.astimezone(tz).utcoffset()
    low, high = 0, (after - before) // _MICROSECOND  # low: still the old offset; high: the new one
    while high - low > 1:
        middle = (low + high) // 2
        if (before + middle * _MICROSECOND).astimezone(tz).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return before + high * _MICROSECOND


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The instant (UTC) local `day` begins: its 00:00, or the end of a gap that swallowed it."""
    return wall_to_utc(day, time(0), tz)


def day_of(at: datetime, tz: ZoneInfo) -> date:
    """The local date whose [start, next day's start) holds `at`.

    Usually the wall-clock date; they differ only inside a fall-back that repeats a midnight, where
    the instants of the second pass still belong to the new day (days partition time).
    """
    at = as_utc(at)
    day = local_date(at, tz)
    while day_start(day, tz) > at:
        day -= timedelta(days=1)
    while day_start(day + timedelta(days=1), tz) <= at:
        day += timedelta(days=1)
    return day

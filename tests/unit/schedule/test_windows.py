"""Weekly windows: parsing, occurrences, and their DST rules; wall-clock conversion."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from bridge.schedule.wallclock import day_of, day_start, wall_to_utc
from bridge.schedule.windows import (
    OneOff,
    WeeklyWindow,
    coverage,
    nominal_week,
    parse_window,
    union_weekly_duration,
)
from tests.unit.schedule.zones import BERLIN, MOSCOW, NEW_YORK, SYDNEY, local, utc

ALL = frozenset(range(7))
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)
H = timedelta(hours=1)


def window(text: str) -> WeeklyWindow:
    return parse_window(text)


# -- parsing --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("sat 01:00-05:00", {SAT}, time(1), time(5)),
        ("mon-fri 09:00-18:00", {MON, TUE, WED, THU, FRI}, time(9), time(18)),
        ("sat,sun 00:00-24:00", {SAT, SUN}, time(0), time(0)),
        ("fri-mon 22:00-06:00", {FRI, SAT, SUN, MON}, time(22), time(6)),
        ("20:00-08:00", ALL, time(20), time(8)),
        ("daily 20:00-08:00", ALL, time(20), time(8)),
        ("weekdays 09:00-18:00", {MON, TUE, WED, THU, FRI}, time(9), time(18)),
        ("weekends", {SAT, SUN}, time(0), time(0)),
        ("mon", {MON}, time(0), time(0)),
        ("daily", ALL, time(0), time(0)),
        ("SAT 01:00-05:00", {SAT}, time(1), time(5)),
        ("Saturday 01:00-05:00", {SAT}, time(1), time(5)),
        ("Monday-Friday 9:00-18:30", {MON, TUE, WED, THU, FRI}, time(9), time(18, 30)),
        ("tues,thurs 10:00-11:00", {TUE, THU}, time(10), time(11)),
        ("  mon - fri ,  sun   09:00 - 18:00 ", {MON, TUE, WED, THU, FRI, SUN}, time(9), time(18)),
        ("mon\u2013wed 09:00\u201318:00", {MON, TUE, WED}, time(9), time(18)),
        ("sun-tue 22:00-24:00", {SUN, MON, TUE}, time(22), time(0)),
        ("mon-mon 01:00-02:00", {MON}, time(1), time(2)),
        ("weekdays,sat 08:00-12:00", {MON, TUE, WED, THU, FRI, SAT}, time(8), time(12)),
        ("00:00-24:00", ALL, time(0), time(0)),
        ("10:00-10:00", ALL, time(10), time(10)),
    ],
)
def test_parse_window(text: str, days: set[int], start: time, end: time) -> None:
    assert parse_window(text) == WeeklyWindow(frozenset(days), start, end)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sat 25:00-05:00", "'sat 25:00-05:00': 25:00 is not a time of day (HH:MM, 00:00-24:00)"),
        ("sat 01:60-05:00", "'sat 01:60-05:00': 01:60 is not a time of day (HH:MM, 00:00-24:00)"),
        ("sat 24:30-05:00", "'sat 24:30-05:00': 24:30 is not a time of day (HH:MM, 00:00-24:00)"),
        ("sat 1-5", "'sat 1-5': 1 is not a time of day (HH:MM, 00:00-24:00)"),
        ("sat 01:00-5pm", "'sat 01:00-5pm': 5pm is not a time of day (HH:MM, 00:00-24:00)"),
        ("9-17", "'9-17': 9 is not a time of day (HH:MM, 00:00-24:00)"),
        (
            "sab 01:00-05:00",
            "'sab 01:00-05:00': unknown day 'sab' (mon, tue, wed, thu, fri, sat, sun)",
        ),
        ("mo 01:00-05:00", "'mo 01:00-05:00': unknown day 'mo' (mon, tue, wed, thu, fri, sat, sun)"),
        ("mon-sab", "'mon-sab': unknown day 'sab' (mon, tue, wed, thu, fri, sat, sun)"),
        ("weekdays-sun", "'weekdays-sun': unknown day 'weekdays' (mon, tue, wed, thu, fri, sat, sun)"),
        ("mon-", "'mon-': 'mon-' is not a day range (e.g. mon-fri, fri-mon)"),
        ("mon-tue-wed", "'mon-tue-wed': 'mon-tue-wed' is not a day range (e.g. mon-fri, fri-mon)"),
        ("mon,,tue", "'mon,,tue': empty day in the list 'mon,,tue'"),
        ("sat 01:00", "'sat 01:00': a window needs a start and an end (HH:MM-HH:MM)"),
        ("sat 01:00-", "'sat 01:00-': a window needs a start and an end (HH:MM-HH:MM)"),
        ("24:00-05:00", "'24:00-05:00': 24:00 can only end a window (start at 00:00 instead)"),
        (
            "mon fri 09:00-18:00",
            "'mon fri 09:00-18:00': expected days and a time range, e.g. 'mon-fri 09:00-18:00'",
        ),
        ("09:00-18:00 mon", "'09:00-18:00 mon': days come before the time range, e.g. 'mon-fri 09:00-18:00'"),
        ("", "empty window (examples: sat 01:00-05:00, mon-fri 09:00-18:00, fri-mon 22:00-06:00, weekends)"),
        (
            "   ",
            "empty window (examples: sat 01:00-05:00, mon-fri 09:00-18:00, fri-mon 22:00-06:00, weekends)",
        ),
    ],
)
def test_parse_window_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_window(text)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("sat 01:00-05:00", "sat 01:00-05:00"),
        ("weekdays 09:00-18:00", "mon-fri 09:00-18:00"),
        ("sat,sun 00:00-24:00", "sat,sun"),
        ("fri-mon 22:00-06:00", "fri-mon 22:00-06:00"),
        ("20:00-08:00", "daily 20:00-08:00"),
        ("sat 22:00-24:00", "sat 22:00-24:00"),
        ("mon,wed,fri,sat", "mon,wed,fri,sat"),
        ("sun,mon", "sun,mon"),
        ("thu-tue 08:00-09:00", "thu-tue 08:00-09:00"),
        ("daily", "daily"),
    ],
)
def test_str_is_canonical_and_parses_back(text: str, printed: str) -> None:
    assert str(parse_window(text)) == printed
    assert parse_window(printed) == parse_window(text)


def test_window_validates_its_fields() -> None:
    with pytest.raises(ValueError, match="at least one day"):
        WeeklyWindow(frozenset(), time(1), time(2))
    with pytest.raises(ValueError, match=r"0 \(Monday\) to 6 \(Sunday\), not \[7\]"):
        WeeklyWindow(frozenset({7}), time(1), time(2))
    with pytest.raises(ValueError, match="wall-clock"):
        WeeklyWindow(frozenset({1}), time(1, tzinfo=UTC), time(2))


@pytest.mark.parametrize(
    ("text", "weekly"),
    [
        ("sat 01:00-05:00", 4 * H),
        ("mon-fri 09:00-18:00", 45 * H),
        ("weekends", 48 * H),
        ("daily", 168 * H),
        ("fri 20:00-08:00", 12 * H),
        ("sat 22:00-24:00", 2 * H),
        ("20:00-08:00", 84 * H),
        ("10:00-10:00", 168 * H),
    ],
)
def test_weekly_duration(text: str, weekly: timedelta) -> None:
    assert window(text).weekly_duration() == weekly
    assert union_weekly_duration([window(text)]) == weekly


def test_union_counts_overlaps_once_and_wraps_the_week() -> None:
    windows = [window("mon-fri 09:00-18:00"), window("mon 08:00-10:00"), window("sun 23:00-01:00")]
    assert union_weekly_duration(windows) == 45 * H + H + 2 * H
    week = nominal_week(windows)
    assert week[0] == (timedelta(0), H)  # Sunday's overnight part, at the start of the week
    assert week[1] == (8 * H, 18 * H)
    assert week[-1] == (6 * 24 * H + 23 * H, 7 * 24 * H)


# -- occurrences, no DST (Moscow) -------------------------------------------------------------------


def test_contains_and_occurrence_in_moscow() -> None:
    sat = window("sat 01:00-05:00")
    assert not sat.contains(local(MOSCOW, 2026, 5, 16, 0, 59), MOSCOW)
    assert sat.contains(local(MOSCOW, 2026, 5, 16, 1, 0), MOSCOW)
    assert sat.contains(local(MOSCOW, 2026, 5, 16, 4, 59), MOSCOW)
    assert not sat.contains(local(MOSCOW, 2026, 5, 16, 5, 0), MOSCOW)  # the end is exclusive
    assert not sat.contains(local(MOSCOW, 2026, 5, 17, 2, 0), MOSCOW)  # Sunday
    assert sat.occurrence(local(MOSCOW, 2026, 5, 16, 3), MOSCOW) == (
        utc(2026, 5, 15, 22),
        utc(2026, 5, 16, 2),
    )
    assert sat.occurrence(local(MOSCOW, 2026, 5, 16, 6), MOSCOW) is None
    # The same instant given in another zone means the same thing.
    assert sat.contains(utc(2026, 5, 15, 22), MOSCOW)
    assert sat.contains(utc(2026, 5, 15, 22).astimezone(NEW_YORK), MOSCOW)


def test_overnight_window_ends_the_next_day() -> None:
    fri = window("fri 20:00-08:00")
    assert not fri.contains(local(MOSCOW, 2026, 5, 15, 19, 59), MOSCOW)
    assert fri.contains(local(MOSCOW, 2026, 5, 15, 20), MOSCOW)
    assert fri.contains(local(MOSCOW, 2026, 5, 16, 7, 59), MOSCOW)  # Saturday morning
    assert not fri.contains(local(MOSCOW, 2026, 5, 16, 8), MOSCOW)
    assert not fri.contains(local(MOSCOW, 2026, 5, 16, 21), MOSCOW)  # Saturday evening: not listed
    assert not fri.contains(local(MOSCOW, 2026, 5, 15, 7), MOSCOW)  # Friday morning: Thursday's
    assert fri.occurrence(local(MOSCOW, 2026, 5, 16, 3), MOSCOW) == (
        local(MOSCOW, 2026, 5, 15, 20).astimezone(UTC),
        local(MOSCOW, 2026, 5, 16, 8).astimezone(UTC),
    )


def test_week_wrapping_window() -> None:
    nights = window("fri-mon 22:00-06:00")
    assert nights.contains(local(MOSCOW, 2026, 5, 19, 5, 59), MOSCOW)  # Tuesday: Monday's night
    assert not nights.contains(local(MOSCOW, 2026, 5, 19, 22), MOSCOW)  # Tuesday night
    assert not nights.contains(local(MOSCOW, 2026, 5, 15, 5), MOSCOW)  # Friday morning: Thursday's
    assert nights.contains(local(MOSCOW, 2026, 5, 17, 23), MOSCOW)  # Sunday night
    sunday = window("sun 22:00-02:00")
    assert sunday.occurrence(local(MOSCOW, 2026, 5, 18, 1), MOSCOW) == (
        local(MOSCOW, 2026, 5, 17, 22).astimezone(UTC),
        local(MOSCOW, 2026, 5, 18, 2).astimezone(UTC),
    )
    assert sunday.next_start(local(MOSCOW, 2026, 5, 18, 1), MOSCOW) == local(MOSCOW, 2026, 5, 24, 22)


def test_end_at_24_00_is_the_next_midnight() -> None:
    late = window("sat 22:00-24:00")
    assert late.occurrence(local(MOSCOW, 2026, 5, 16, 23, 59), MOSCOW) == (
        local(MOSCOW, 2026, 5, 16, 22).astimezone(UTC),
        local(MOSCOW, 2026, 5, 17, 0).astimezone(UTC),
    )
    assert not late.contains(local(MOSCOW, 2026, 5, 17, 0), MOSCOW)
    whole = window("sat")
    assert whole.occurrence(local(MOSCOW, 2026, 5, 16, 12), MOSCOW) == (
        local(MOSCOW, 2026, 5, 16).astimezone(UTC),
        local(MOSCOW, 2026, 5, 17).astimezone(UTC),
    )


def test_next_start_is_strictly_after() -> None:
    sat = window("sat 01:00-05:00")
    start = local(MOSCOW, 2026, 5, 16, 1)
    assert sat.next_start(start - timedelta(microseconds=1), MOSCOW) == start
    assert sat.next_start(start, MOSCOW) == start + timedelta(days=7)
    assert sat.next_start(local(MOSCOW, 2026, 5, 16, 3), MOSCOW) == start + timedelta(days=7)
    assert sat.next_start(local(MOSCOW, 2026, 5, 12), MOSCOW) == start
    assert sat.next_start(start, MOSCOW).tzinfo is UTC
    every = window("daily 20:00-08:00")
    assert every.next_start(local(MOSCOW, 2026, 5, 16, 3), MOSCOW) == local(MOSCOW, 2026, 5, 16, 20)


def test_occurrences_between() -> None:
    weekdays = window("mon-fri 09:00-18:00")
    spans = weekdays.occurrences(local(MOSCOW, 2026, 5, 11, 12), local(MOSCOW, 2026, 5, 18, 9), MOSCOW)
    assert [s.astimezone(MOSCOW).day for s, _ in spans] == [
        11,
        12,
        13,
        14,
        15,
    ]  # not the 18th: [since, until)
    assert all(end - start == 9 * H for start, end in spans)


def test_coverage_joins_touching_windows_and_clips() -> None:
    windows = [window("mon 08:00-12:00"), window("mon 12:00-14:00"), window("mon 13:00-15:00")]
    spans = coverage(windows, local(MOSCOW, 2026, 5, 11, 9), local(MOSCOW, 2026, 5, 18, 10), MOSCOW)
    assert spans == [
        (local(MOSCOW, 2026, 5, 11, 9).astimezone(UTC), local(MOSCOW, 2026, 5, 11, 15).astimezone(UTC)),
        (local(MOSCOW, 2026, 5, 18, 8).astimezone(UTC), local(MOSCOW, 2026, 5, 18, 10).astimezone(UTC)),
    ]


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        window("sat").contains(datetime(2026, 5, 16, 12), MOSCOW)


# -- DST ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "sunday", "start", "end", "hours"),
    [
        # Spring forward: local 01:00 to 05:00 is three real hours.
        (BERLIN, date(2026, 3, 29), utc(2026, 3, 29, 0), utc(2026, 3, 29, 3), 3),
        (NEW_YORK, date(2026, 3, 8), utc(2026, 3, 8, 6), utc(2026, 3, 8, 9), 3),
        # Fall back: it includes the repeated hour, five real hours.
        (BERLIN, date(2026, 10, 25), utc(2026, 10, 24, 23), utc(2026, 10, 25, 4), 5),
        (NEW_YORK, date(2026, 11, 1), utc(2026, 11, 1, 5), utc(2026, 11, 1, 10), 5),
        # The control: Moscow has no DST.
        (MOSCOW, date(2026, 3, 29), utc(2026, 3, 28, 22), utc(2026, 3, 29, 2), 4),
        (MOSCOW, date(2026, 10, 25), utc(2026, 10, 24, 22), utc(2026, 10, 25, 2), 4),
    ],
)
def test_dst_days_keep_wall_clock_boundaries(
    tz: ZoneInfo, sunday: date, start: datetime, end: datetime, hours: int
) -> None:
    sun = window("sun 01:00-05:00")
    noon = datetime.combine(sunday, time(12), tzinfo=tz)
    assert sun.next_start(noon - timedelta(days=1), tz) == start
    assert sun.occurrence(start, tz) == (start, end)
    assert end - start == timedelta(hours=hours)
    assert sun.contains(end - timedelta(microseconds=1), tz)
    assert not sun.contains(end, tz)
    assert not sun.contains(start - timedelta(microseconds=1), tz)


def test_boundary_in_the_skipped_hour_moves_to_the_end_of_the_gap() -> None:
    # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
    assert window("sun 02:30-04:00").occurrence(utc(2026, 3, 29, 1, 30), BERLIN) == (
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
    )
    assert window("sun 00:00-02:30").occurrence(utc(2026, 3, 29, 0), BERLIN) == (
        utc(2026, 3, 28, 23),
        utc(2026, 3, 29, 1),
    )
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
    assert window("sun 02:15-02:45").occurrence_on(date(2026, 3, 8), NEW_YORK) is None  # swallowed
    assert window("sun 02:15-02:45").occurrence_on(date(2026, 3, 15), NEW_YORK) is not None
    assert window("sun 02:15-02:45").next_start(utc(2026, 3, 7), NEW_YORK) == local(
        NEW_YORK, 2026, 3, 15, 2, 15
    )


def test_boundary_on_a_repeated_time_is_its_first_occurrence() -> None:
    # Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET at 01:00 UTC; 02:30 happens twice.
    assert window("sun 02:30-03:30").occurrence(utc(2026, 10, 25, 1), BERLIN) == (
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 2, 30),  # 03:30 CET
    )
    assert window("sun 00:00-02:30").occurrence(utc(2026, 10, 24, 23), BERLIN) == (
        utc(2026, 10, 24, 22),
        utc(2026, 10, 25, 0, 30),  # the first 02:30: the second pass is outside
    )
    assert not window("sun 00:00-02:30").contains(local(BERLIN, 2026, 10, 25, 2, 0, fold=1), BERLIN)
    # New York, 2026-11-01: 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST).
    assert window("sun 01:30-03:00").occurrence(utc(2026, 11, 1, 6), NEW_YORK) == (
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 1, 8),
    )


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, SYDNEY, MOSCOW])
def test_whole_days_tile_time_across_dst(tz: ZoneInfo) -> None:
    daily = window("daily")
    at = day_start(date(2026, 1, 1), tz)
    lengths = set()
    for _ in range(366):
        start, end = daily.occurrence(at, tz) or (at, at)
        assert start == at  # exactly where the previous day ended: no gap, no overlap
        assert start.astimezone(tz).time() == time(0)
        lengths.add(end - start)
        at = end
    expected = {24 * H} if tz is MOSCOW else {23 * H, 24 * H, 25 * H}
    assert lengths == expected


def test_overnight_windows_tile_across_dst() -> None:
    nights = window("20:00-20:00")  # 24h from 20:00, every day
    at = local(BERLIN, 2026, 3, 27, 20)
    spans = nights.occurrences(at, at + timedelta(days=3), BERLIN)
    assert [b - a for a, b in spans] == [24 * H, 23 * H, 24 * H]
    assert all(a[1] == b[0] for a, b in pairwise(spans))


# -- one-off windows ------------------------------------------------------------------------------


def test_one_off() -> None:
    once = OneOff(local(MOSCOW, 2026, 5, 16, 1), local(MOSCOW, 2026, 5, 16, 5))
    assert once.contains(utc(2026, 5, 15, 22))
    assert once.contains(utc(2026, 5, 16, 1, 59))
    assert not once.contains(utc(2026, 5, 16, 2))
    assert not once.contains(utc(2026, 5, 15, 21, 59))
    with pytest.raises(ValueError, match="before it starts"):
        OneOff(utc(2026, 5, 16, 2), utc(2026, 5, 16, 1))
    with pytest.raises(ValueError, match="has no time zone"):
        once.contains(datetime(2026, 5, 16, 2))


# -- wall clock -----------------------------------------------------------------------------------


def test_wall_to_utc() -> None:
    assert wall_to_utc(date(2026, 3, 29), time(2, 30), BERLIN) == utc(2026, 3, 29, 1)  # skipped
    assert wall_to_utc(date(2026, 3, 29), time(3), BERLIN) == utc(2026, 3, 29, 1)
    assert wall_to_utc(date(2026, 3, 29), time(1, 59), BERLIN) == utc(2026, 3, 29, 0, 59)
    assert wall_to_utc(date(2026, 10, 25), time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)  # repeated
    assert wall_to_utc(date(2026, 3, 8), time(2, 0), NEW_YORK) == utc(2026, 3, 8, 7)
    assert wall_to_utc(date(2026, 11, 1), time(1, 0), NEW_YORK) == utc(2026, 11, 1, 5)
    assert wall_to_utc(date(2026, 10, 4), time(2, 30), SYDNEY) == utc(2026, 10, 3, 16)
    assert wall_to_utc(date(2026, 4, 5), time(2, 30), SYDNEY) == utc(2026, 4, 4, 15, 30)
    assert wall_to_utc(date(2026, 3, 29), time(2, 30), MOSCOW) == utc(2026, 3, 28, 23, 30)


def test_days_partition_time() -> None:
    assert day_start(date(2026, 3, 29), BERLIN) == utc(2026, 3, 28, 23)
    assert day_of(utc(2026, 3, 28, 23), BERLIN) == date(2026, 3, 29)
    assert day_of(utc(2026, 3, 28, 22, 59), BERLIN) == date(2026, 3, 28)
    # Santiago springs forward at midnight: 2026-09-06 00:00 does not exist, the day starts at 01:00.
    santiago = ZoneInfo("America/Santiago")
    start = day_start(date(2026, 9, 6), santiago)
    assert start.astimezone(santiago).replace(tzinfo=None) == datetime(2026, 9, 6, 1)
    assert day_of(start, santiago) == date(2026, 9, 6)
    assert day_of(start - timedelta(microseconds=1), santiago) == date(2026, 9, 5)

"""Service calendars: SLA clocks in business hours, with holidays."""

from __future__ import annotations

import time as stopwatch
from datetime import UTC, date, datetime, timedelta

import pytest

from bridge.schedule.calendar import ServiceCalendar
from bridge.schedule.windows import parse_window
from tests.unit.schedule.zones import BERLIN, MOSCOW, NEW_YORK, local, utc

H = timedelta(hours=1)
M = timedelta(minutes=1)
OFFICE = ServiceCalendar(MOSCOW, (parse_window("mon-fri 09:00-18:00"),))
FRIDAY = date(2026, 5, 15)
MONDAY = date(2026, 5, 18)


def test_p3_opened_friday_evening_is_due_monday_not_saturday() -> None:
    opened = local(MOSCOW, 2026, 5, 15, 17, 50)
    one_business_day = OFFICE.business_day()
    assert one_business_day == 9 * H
    due = OFFICE.add(opened, one_business_day)
    assert due == local(MOSCOW, 2026, 5, 18, 17, 50)
    assert due.tzinfo is UTC
    assert OFFICE.between(opened, due) == 9 * H


def test_a_holiday_on_monday_moves_it_to_tuesday() -> None:
    calendar = ServiceCalendar(MOSCOW, OFFICE.hours, frozenset({MONDAY}))
    opened = local(MOSCOW, 2026, 5, 15, 17, 50)
    due = calendar.add(opened, calendar.business_day())
    assert due == local(MOSCOW, 2026, 5, 19, 17, 50)
    assert calendar.between(opened, due) == 9 * H
    assert not calendar.is_open(local(MOSCOW, 2026, 5, 18, 12))
    assert calendar.between(local(MOSCOW, 2026, 5, 18), local(MOSCOW, 2026, 5, 19)) == timedelta(0)


def test_several_business_days_and_weeks() -> None:
    opened = local(MOSCOW, 2026, 5, 13, 10)  # Wednesday
    assert OFFICE.add(opened, 3 * OFFICE.business_day()) == local(MOSCOW, 2026, 5, 18, 10)
    assert OFFICE.add(opened, 5 * OFFICE.business_day()) == local(MOSCOW, 2026, 5, 20, 10)
    assert OFFICE.add(opened, 45 * H) == local(MOSCOW, 2026, 5, 20, 10)  # a week of service


def test_start_outside_hours_waits_for_the_opening() -> None:
    saturday = local(MOSCOW, 2026, 5, 16, 12)
    assert OFFICE.add(saturday, H) == local(MOSCOW, 2026, 5, 18, 10)
    early = local(MOSCOW, 2026, 5, 18, 7)
    assert OFFICE.add(early, 30 * M) == local(MOSCOW, 2026, 5, 18, 9, 30)
    late = local(MOSCOW, 2026, 5, 18, 19)
    assert OFFICE.add(late, 30 * M) == local(MOSCOW, 2026, 5, 19, 9, 30)


def test_zero_service_time_is_the_next_opening_or_now() -> None:
    open_now = local(MOSCOW, 2026, 5, 18, 11, 23)
    assert OFFICE.add(open_now, timedelta(0)) == open_now
    assert OFFICE.add(local(MOSCOW, 2026, 5, 16, 12), timedelta(0)) == local(MOSCOW, 2026, 5, 18, 9)
    closing = local(MOSCOW, 2026, 5, 18, 18)
    assert OFFICE.add(closing, timedelta(0)) == local(MOSCOW, 2026, 5, 19, 9)
    assert OFFICE.add(local(MOSCOW, 2026, 5, 18, 9), timedelta(0)) == local(MOSCOW, 2026, 5, 18, 9)


def test_using_up_a_whole_day_ends_at_the_closing_instant() -> None:
    assert OFFICE.add(local(MOSCOW, 2026, 5, 18, 9), 9 * H) == local(MOSCOW, 2026, 5, 18, 18)
    assert OFFICE.add(local(MOSCOW, 2026, 5, 18, 9), 9 * H + M) == local(MOSCOW, 2026, 5, 19, 9, 1)


def test_between() -> None:
    assert OFFICE.between(local(MOSCOW, 2026, 5, 18, 8), local(MOSCOW, 2026, 5, 18, 10)) == H
    assert OFFICE.between(local(MOSCOW, 2026, 5, 15, 17), local(MOSCOW, 2026, 5, 18, 10)) == 2 * H
    assert OFFICE.between(local(MOSCOW, 2026, 5, 16), local(MOSCOW, 2026, 5, 17)) == timedelta(0)
    assert OFFICE.between(local(MOSCOW, 2026, 5, 18), local(MOSCOW, 2026, 5, 25)) == 45 * H
    later, earlier = local(MOSCOW, 2026, 5, 18, 12), local(MOSCOW, 2026, 5, 18, 10)
    assert OFFICE.between(later, earlier) == timedelta(0)
    assert OFFICE.between(later, later) == timedelta(0)


def test_is_open() -> None:
    assert OFFICE.is_open(local(MOSCOW, 2026, 5, 18, 9))
    assert OFFICE.is_open(local(MOSCOW, 2026, 5, 18, 17, 59))
    assert not OFFICE.is_open(local(MOSCOW, 2026, 5, 18, 18))
    assert not OFFICE.is_open(local(MOSCOW, 2026, 5, 18, 8, 59))
    assert not OFFICE.is_open(local(MOSCOW, 2026, 5, 16, 12))
    assert OFFICE.is_open(utc(2026, 5, 18, 6))  # 09:00 in Moscow
    assert OFFICE.is_open(local(NEW_YORK, 2026, 5, 18, 2))  # 09:00 in Moscow


def test_24_7_calendar_counts_real_time() -> None:
    always = ServiceCalendar(BERLIN)
    assert always.business_day() == 24 * H
    start = local(BERLIN, 2026, 3, 28, 12)
    assert always.add(start, 24 * H) == local(BERLIN, 2026, 3, 29, 13)  # one hour skipped by DST
    assert always.between(start, local(BERLIN, 2026, 3, 29, 12)) == 23 * H
    assert always.is_open(local(BERLIN, 2026, 3, 29, 3))
    assert always.add(start, timedelta(0)) == start
    assert always.add(start, 1000 * 24 * H) == start + 1000 * 24 * H


def test_holidays_apply_to_24_7_calendars_too() -> None:
    calendar = ServiceCalendar(MOSCOW, holidays=frozenset({date(2026, 1, 1), date(2026, 1, 2)}))
    start = local(MOSCOW, 2025, 12, 31, 20)
    assert calendar.add(start, 5 * H) == local(MOSCOW, 2026, 1, 3, 1)
    assert calendar.between(start, local(MOSCOW, 2026, 1, 3, 1)) == 5 * H
    assert not calendar.is_open(local(MOSCOW, 2026, 1, 1, 12))
    assert calendar.is_open(local(MOSCOW, 2026, 1, 3))


def test_overnight_hours_stop_at_a_holidays_midnight() -> None:
    nights = ServiceCalendar(MOSCOW, (parse_window("20:00-08:00"),), frozenset({MONDAY}))
    assert nights.between(local(MOSCOW, 2026, 5, 17, 12), local(MOSCOW, 2026, 5, 19, 12)) == 4 * H + 8 * H
    assert nights.is_open(local(MOSCOW, 2026, 5, 17, 23, 59))
    assert not nights.is_open(local(MOSCOW, 2026, 5, 18, 0))
    assert nights.is_open(local(MOSCOW, 2026, 5, 19, 0))  # Monday night's occurrence, on Tuesday


def test_business_hours_over_dst_are_real_hours() -> None:
    sunday = ServiceCalendar(BERLIN, (parse_window("sun 01:00-05:00"),))
    assert sunday.between(local(BERLIN, 2026, 3, 29), local(BERLIN, 2026, 3, 30)) == 3 * H
    assert sunday.between(local(BERLIN, 2026, 10, 25), local(BERLIN, 2026, 10, 26)) == 5 * H
    assert sunday.add(local(BERLIN, 2026, 3, 28), 3 * H) == local(BERLIN, 2026, 3, 29, 5)
    assert sunday.add(local(BERLIN, 2026, 3, 28), 4 * H) == local(BERLIN, 2026, 4, 5, 2)
    office = ServiceCalendar(NEW_YORK, (parse_window("daily 00:00-04:00"),))
    assert office.between(local(NEW_YORK, 2026, 11, 1), local(NEW_YORK, 2026, 11, 2)) == 5 * H


def test_overlapping_hours_count_once() -> None:
    calendar = ServiceCalendar(MOSCOW, (parse_window("mon-fri 09:00-18:00"), parse_window("mon 08:00-10:00")))
    assert calendar.between(local(MOSCOW, 2026, 5, 18), local(MOSCOW, 2026, 5, 19)) == 10 * H
    assert calendar.add(local(MOSCOW, 2026, 5, 18), 10 * H) == local(MOSCOW, 2026, 5, 18, 18)


@pytest.mark.parametrize(
    ("hours", "business_day"),
    [
        (("mon-fri 09:00-18:00",), 9 * H),
        (("mon-fri 09:00-18:00", "sat 10:00-14:00"), 9 * H),
        (("mon-fri 09:00-13:00", "mon-fri 14:00-18:00"), 8 * H),
        (("mon-thu 09:00-18:00", "fri 09:00-16:00"), 9 * H),
        (("mon-fri 20:00-08:00",), 12 * H),
        (("sat,sun 10:00-14:00", "mon,tue 10:00-12:00"), 4 * H),  # a tie goes to the longer
        (("daily",), 24 * H),
        ((), 24 * H),
    ],
)
def test_business_day(hours: tuple[str, ...], business_day: timedelta) -> None:
    calendar = ServiceCalendar(MOSCOW, tuple(parse_window(text) for text in hours))
    assert calendar.business_day() == business_day


def test_many_business_days_walk_occurrences_not_minutes() -> None:
    holidays = frozenset(date(2026, 1, day) for day in range(1, 9))
    calendar = ServiceCalendar(BERLIN, OFFICE.hours, holidays)
    opened = local(BERLIN, 2026, 5, 15, 17, 50)
    began = stopwatch.perf_counter()
    due = calendar.add(opened, 2500 * calendar.business_day())  # about ten years
    assert stopwatch.perf_counter() - began < 2.0
    assert calendar.between(opened, due) == 2500 * 9 * H
    assert due.astimezone(BERLIN).time() == datetime(2000, 1, 1, 17, 50).time()


def test_refusals() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        OFFICE.add(local(MOSCOW, 2026, 5, 18), -M)
    with pytest.raises(ValueError, match="has no time zone"):
        OFFICE.is_open(datetime(2026, 5, 18, 12))

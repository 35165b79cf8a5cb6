"""On-call rotas: who is on duty, layers, overrides, DST-correct handoffs, and shift listings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from bridge.schedule.rotation import OnDuty, Override, Rotation, Schedule, shifts, who_is_on_duty
from bridge.schedule.windows import parse_window
from tests.unit.schedule.zones import BERLIN, MOSCOW, NEW_YORK, local, utc

H = timedelta(hours=1)
TICK = timedelta(microseconds=1)


def daily(
    tz: ZoneInfo = MOSCOW, handoff: time = time(9), members: tuple[str, ...] = ("ann", "bob", "cid")
) -> Rotation:
    return Rotation("daily", members, handoff, 1, date(2026, 5, 11), tz=tz)


def only(layer: Rotation, *overrides: Override) -> Schedule:
    return Schedule("ops", (layer,), overrides)


def on_duty(schedule: Schedule, at: datetime) -> OnDuty:
    duty = who_is_on_duty(schedule, at)
    assert duty is not None
    return duty


def test_daily_rotation() -> None:
    schedule = only(daily())
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 11, 9)).person == "ann"
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 12, 8, 59)).person == "ann"
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 12, 9)).person == "bob"
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 13, 12)).person == "cid"
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 14, 12)).person == "ann"
    duty = on_duty(schedule, local(MOSCOW, 2026, 5, 12, 15))
    assert duty == OnDuty("bob", "daily", utc(2026, 5, 12, 6), utc(2026, 5, 13, 6), override=False)
    assert duty.shift_start.tzinfo is UTC


def test_shifts_before_the_anchor_continue_the_cycle_backwards() -> None:
    schedule = only(daily())
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 11, 8, 59)).person == "cid"
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 10, 8)).person == "bob"
    assert on_duty(schedule, local(MOSCOW, 2025, 5, 11, 12)).person == ["ann", "bob", "cid"][-365 % 3]


def test_weekly_and_odd_length_rotations() -> None:
    weekly = Rotation("weekly", ("ann", "bob"), time(10), 7, date(2026, 5, 11), tz=MOSCOW)
    schedule = only(weekly)
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 17, 23)).person == "ann"
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 18, 9, 59)).person == "ann"
    duty = on_duty(schedule, local(MOSCOW, 2026, 5, 18, 10))
    assert (duty.person, duty.shift_end - duty.shift_start) == ("bob", 7 * 24 * H)
    assert on_duty(schedule, local(MOSCOW, 2026, 5, 25, 10)).person == "ann"
    three = Rotation("three", ("ann", "bob"), time(0), 3, date(2026, 5, 11), tz=MOSCOW)
    duty = on_duty(only(three), local(MOSCOW, 2026, 5, 16, 12))
    assert (duty.person, duty.shift_start, duty.shift_end) == (
        "bob",
        local(MOSCOW, 2026, 5, 14).astimezone(UTC),
        local(MOSCOW, 2026, 5, 17).astimezone(UTC),
    )


@pytest.mark.parametrize(
    ("tz", "before", "change", "hours"),
    [
        (BERLIN, date(2026, 3, 28), date(2026, 3, 29), 23),  # spring forward
        (BERLIN, date(2026, 10, 24), date(2026, 10, 25), 25),  # fall back
        (NEW_YORK, date(2026, 3, 7), date(2026, 3, 8), 23),
        (NEW_YORK, date(2026, 10, 31), date(2026, 11, 1), 25),
        (MOSCOW, date(2026, 3, 28), date(2026, 3, 29), 24),  # the control
    ],
)
def test_daily_handoff_keeps_its_wall_clock_time_across_dst(
    tz: ZoneInfo, before: date, change: date, hours: int
) -> None:
    schedule = only(daily(tz))
    shift = on_duty(schedule, datetime.combine(before, time(12), tzinfo=tz))
    assert shift.shift_start == datetime.combine(before, time(9), tzinfo=tz)
    assert shift.shift_end == datetime.combine(change, time(9), tzinfo=tz)
    assert shift.shift_end - shift.shift_start == timedelta(hours=hours)
    following = on_duty(schedule, shift.shift_end)
    assert following.shift_start == shift.shift_end  # no gap, no double
    assert following.person != shift.person
    assert on_duty(schedule, shift.shift_end - TICK) == shift
    assert following.shift_end - following.shift_start == 24 * H


def test_weekly_shift_over_dst() -> None:
    weekly = Rotation("weekly", ("ann", "bob"), time(9), 7, date(2026, 3, 23), tz=BERLIN)
    duty = on_duty(only(weekly), local(BERLIN, 2026, 3, 25, 12))
    assert duty.shift_end - duty.shift_start == 7 * 24 * H - H
    assert duty.shift_end.astimezone(BERLIN).time() == time(9)


def test_handoff_in_the_gap_and_in_the_repeated_hour() -> None:
    # Berlin: 02:30 is skipped on 2026-03-29 (the handoff happens at 03:00 CEST = 01:00 UTC) and
    # repeated on 2026-10-25 (the handoff happens at the first, 02:30 CEST = 00:30 UTC).
    schedule = only(daily(BERLIN, time(2, 30)))
    spring = on_duty(schedule, utc(2026, 3, 28, 12))
    assert spring.shift_end == utc(2026, 3, 29, 1)
    assert spring.shift_end - spring.shift_start == 23 * H + 30 * timedelta(minutes=1)  # from 02:30 CET
    assert on_duty(schedule, utc(2026, 3, 29, 1)).shift_start == utc(2026, 3, 29, 1)
    autumn = on_duty(schedule, utc(2026, 10, 24, 12))
    assert autumn.shift_end == utc(2026, 10, 25, 0, 30)
    nxt = on_duty(schedule, autumn.shift_end)
    assert nxt.shift_end - nxt.shift_start == 25 * H  # first 02:30 CEST to 02:30 CET the next day
    # New York: 02:30 does not exist on 2026-03-08; the handoff is at 03:00 EDT = 07:00 UTC.
    assert on_duty(only(daily(NEW_YORK, time(2, 30))), utc(2026, 3, 8, 7)).shift_start == utc(2026, 3, 8, 7)


# -- layers ---------------------------------------------------------------------------------------

BASE = Rotation("base", ("ann", "bob"), time(9), 7, date(2026, 5, 11), tz=BERLIN)
BUSINESS = Rotation(
    "business",
    ("cid", "dan"),
    time(9),
    1,
    date(2026, 5, 11),
    (parse_window("mon-fri 09:00-18:00"),),
    tz=BERLIN,
)
NIGHT = Rotation(
    "night", ("eve", "fay"), time(20), 1, date(2026, 5, 11), (parse_window("20:00-08:00"),), tz=BERLIN
)
LAYERED = Schedule("ops", (NIGHT, BASE, BUSINESS))  # the order does not decide: specificity does


def test_night_over_business_over_base() -> None:
    assert BUSINESS.weekly_duration() == 45 * H
    assert NIGHT.weekly_duration() == 84 * H
    assert BASE.weekly_duration() == 168 * H
    duty = on_duty(LAYERED, local(BERLIN, 2026, 5, 12, 10))  # Tuesday morning
    assert duty == OnDuty(
        "dan", "business", local(BERLIN, 2026, 5, 12, 9), local(BERLIN, 2026, 5, 12, 18), override=False
    )
    duty = on_duty(LAYERED, local(BERLIN, 2026, 5, 12, 19))  # between business hours and the night
    assert (duty.person, duty.layer) == ("ann", "base")
    assert (duty.shift_start, duty.shift_end) == (
        local(BERLIN, 2026, 5, 11, 9),
        local(BERLIN, 2026, 5, 18, 9),
    )
    duty = on_duty(LAYERED, local(BERLIN, 2026, 5, 13, 3))  # Tuesday's night, on Wednesday
    assert duty == OnDuty(
        "fay", "night", local(BERLIN, 2026, 5, 12, 20), local(BERLIN, 2026, 5, 13, 8), override=False
    )
    assert on_duty(LAYERED, local(BERLIN, 2026, 5, 16, 12)).layer == "base"  # Saturday
    assert on_duty(LAYERED, local(BERLIN, 2026, 5, 16, 21)).layer == "night"


def test_window_clips_the_shift_to_its_occurrence() -> None:
    # A weekly shift seen through a nightly window: the span is tonight's part of the shift.
    weekly_nights = Rotation(
        "nights", ("eve",), time(9), 7, date(2026, 5, 11), (parse_window("20:00-08:00"),), tz=BERLIN
    )
    duty = on_duty(only(weekly_nights), local(BERLIN, 2026, 5, 18, 7))  # the week changes at 09:00
    assert (duty.shift_start, duty.shift_end) == (
        local(BERLIN, 2026, 5, 17, 20),
        local(BERLIN, 2026, 5, 18, 8),
    )
    # A daily shift handing off at 02:00, inside the window: the occurrence is split at the handoff.
    split = Rotation(
        "split", ("eve", "fay"), time(2), 1, date(2026, 5, 11), (parse_window("20:00-08:00"),), tz=BERLIN
    )
    duty = on_duty(only(split), local(BERLIN, 2026, 5, 12, 1))
    assert (duty.shift_start, duty.shift_end) == (
        local(BERLIN, 2026, 5, 11, 20),
        local(BERLIN, 2026, 5, 12, 2),
    )
    duty = on_duty(only(split), local(BERLIN, 2026, 5, 12, 3))
    assert (duty.shift_start, duty.shift_end) == (
        local(BERLIN, 2026, 5, 12, 2),
        local(BERLIN, 2026, 5, 12, 8),
    )


def test_touching_windows_of_one_layer_make_one_span() -> None:
    windows = (parse_window("mon-fri 09:00-13:00"), parse_window("mon-fri 13:00-18:00"))
    office = Rotation("office", ("cid",), time(0), 1, date(2026, 5, 11), windows, tz=BERLIN)
    duty = on_duty(only(office), local(BERLIN, 2026, 5, 12, 10))
    assert (duty.shift_start, duty.shift_end) == (
        local(BERLIN, 2026, 5, 12, 9),
        local(BERLIN, 2026, 5, 12, 18),
    )


def test_equal_specificity_goes_to_the_later_layer() -> None:
    first = Rotation(
        "first", ("ann",), time(9), 7, date(2026, 5, 11), (parse_window("mon-fri 09:00-18:00"),), tz=BERLIN
    )
    second = Rotation(
        "second", ("bob",), time(9), 7, date(2026, 5, 11), (parse_window("weekdays 09:00-18:00"),), tz=BERLIN
    )
    at = local(BERLIN, 2026, 5, 12, 10)
    assert on_duty(Schedule("ops", (first, second)), at).person == "bob"
    assert on_duty(Schedule("ops", (second, first)), at).person == "ann"


def test_nobody_on_duty_outside_all_windows() -> None:
    schedule = Schedule("office", (BUSINESS,))
    assert who_is_on_duty(schedule, local(BERLIN, 2026, 5, 16, 12)) is None
    assert who_is_on_duty(schedule, local(BERLIN, 2026, 5, 12, 18)) is None
    assert who_is_on_duty(Schedule("empty", ()), utc(2026, 5, 12)) is None


# -- overrides ------------------------------------------------------------------------------------


def test_overrides_win() -> None:
    cover = Override("zed", local(BERLIN, 2026, 5, 12, 14), local(BERLIN, 2026, 5, 12, 16), "dentist")
    schedule = Schedule("ops", LAYERED.layers, (cover,))
    duty = on_duty(schedule, local(BERLIN, 2026, 5, 12, 15))
    assert duty == OnDuty("zed", "override", utc(2026, 5, 12, 12), utc(2026, 5, 12, 14), override=True)
    assert duty.shift_start.tzinfo is UTC
    assert on_duty(schedule, local(BERLIN, 2026, 5, 12, 16)).person == "dan"  # the end is exclusive
    assert on_duty(schedule, local(BERLIN, 2026, 5, 12, 13, 59)).person == "dan"


def test_the_latest_starting_override_wins() -> None:
    week = Override("yan", local(BERLIN, 2026, 5, 11), local(BERLIN, 2026, 5, 18))
    afternoon = Override("zed", local(BERLIN, 2026, 5, 12, 14), local(BERLIN, 2026, 5, 12, 16))
    same_start = Override("xia", local(BERLIN, 2026, 5, 12, 14), local(BERLIN, 2026, 5, 12, 15))
    schedule = Schedule("ops", LAYERED.layers, (afternoon, week))
    assert on_duty(schedule, local(BERLIN, 2026, 5, 12, 15)).person == "zed"
    assert on_duty(schedule, local(BERLIN, 2026, 5, 12, 16)).person == "yan"
    schedule = Schedule("ops", LAYERED.layers, (afternoon, same_start))
    assert on_duty(schedule, local(BERLIN, 2026, 5, 12, 14, 30)).person == "xia"  # then the later listed


def test_an_override_covers_a_gap_in_the_layers() -> None:
    cover = Override("zed", local(BERLIN, 2026, 5, 16, 10), local(BERLIN, 2026, 5, 16, 12))
    schedule = Schedule("office", (BUSINESS,), (cover,))
    assert on_duty(schedule, local(BERLIN, 2026, 5, 16, 11)).person == "zed"


# -- shift listings -------------------------------------------------------------------------------


def test_shifts_over_a_week() -> None:
    cover = Override("zed", local(BERLIN, 2026, 5, 13, 14), local(BERLIN, 2026, 5, 13, 16))
    schedule = Schedule("ops", LAYERED.layers, (cover,))
    start, end = local(BERLIN, 2026, 5, 11), local(BERLIN, 2026, 5, 18)
    listing = shifts(schedule, start, end)
    spans = [
        (d.person, d.layer, d.shift_start.astimezone(BERLIN), d.shift_end.astimezone(BERLIN)) for d in listing
    ]
    assert spans[:6] == [
        ("fay", "night", local(BERLIN, 2026, 5, 11, 0), local(BERLIN, 2026, 5, 11, 8)),
        ("bob", "base", local(BERLIN, 2026, 5, 11, 8), local(BERLIN, 2026, 5, 11, 9)),
        ("cid", "business", local(BERLIN, 2026, 5, 11, 9), local(BERLIN, 2026, 5, 11, 18)),
        ("ann", "base", local(BERLIN, 2026, 5, 11, 18), local(BERLIN, 2026, 5, 11, 20)),
        ("eve", "night", local(BERLIN, 2026, 5, 11, 20), local(BERLIN, 2026, 5, 12, 8)),
        ("ann", "base", local(BERLIN, 2026, 5, 12, 8), local(BERLIN, 2026, 5, 12, 9)),
    ]
    wednesday = [s for s in spans if s[2].date() == date(2026, 5, 13) and s[2].hour >= 9]
    assert wednesday[:4] == [
        ("cid", "business", local(BERLIN, 2026, 5, 13, 9), local(BERLIN, 2026, 5, 13, 14)),
        ("zed", "override", local(BERLIN, 2026, 5, 13, 14), local(BERLIN, 2026, 5, 13, 16)),
        ("cid", "business", local(BERLIN, 2026, 5, 13, 16), local(BERLIN, 2026, 5, 13, 18)),
        ("ann", "base", local(BERLIN, 2026, 5, 13, 18), local(BERLIN, 2026, 5, 13, 20)),
    ]
    assert spans[-3:] == [
        ("fay", "night", local(BERLIN, 2026, 5, 16, 20), local(BERLIN, 2026, 5, 17, 8)),
        ("ann", "base", local(BERLIN, 2026, 5, 17, 8), local(BERLIN, 2026, 5, 17, 20)),
        ("eve", "night", local(BERLIN, 2026, 5, 17, 20), local(BERLIN, 2026, 5, 18, 0)),
    ]
    assert listing[0].shift_start == start and listing[-1].shift_end == end  # clipped to the range
    assert all(a.shift_end == b.shift_start for a, b in pairwise(listing))
    assert [d.override for d in listing].count(True) == 1


def test_shifts_merge_adjacent_spans_and_leave_gaps_out() -> None:
    solo = Rotation("solo", ("ann",), time(9), 1, date(2026, 5, 11), tz=MOSCOW)
    listing = shifts(only(solo), local(MOSCOW, 2026, 5, 11), local(MOSCOW, 2026, 5, 18))
    assert listing == [
        OnDuty("ann", "solo", local(MOSCOW, 2026, 5, 11), local(MOSCOW, 2026, 5, 18), override=False)
    ]
    office = Schedule("office", (BUSINESS,))
    listing = shifts(office, local(BERLIN, 2026, 5, 11), local(BERLIN, 2026, 5, 18))
    assert [(d.person, d.shift_start.astimezone(BERLIN).day) for d in listing] == [
        ("cid", 11),
        ("dan", 12),
        ("cid", 13),
        ("dan", 14),
        ("cid", 15),
    ]
    assert all(d.shift_end - d.shift_start == 9 * H for d in listing)
    assert shifts(office, local(BERLIN, 2026, 5, 16), local(BERLIN, 2026, 5, 17)) == []
    assert shifts(office, local(BERLIN, 2026, 5, 12), local(BERLIN, 2026, 5, 11)) == []


def test_shifts_across_dst_keep_the_handoff() -> None:
    listing = shifts(only(daily(BERLIN)), local(BERLIN, 2026, 3, 27, 9), local(BERLIN, 2026, 3, 31, 9))
    assert [d.shift_end - d.shift_start for d in listing] == [24 * H, 23 * H, 24 * H, 24 * H]
    assert [d.person for d in listing] == ["ann", "bob", "cid", "ann"]  # 45 days before the anchor


# -- validation -----------------------------------------------------------------------------------


def test_refusals() -> None:
    with pytest.raises(ValueError, match="has no members"):
        Rotation("empty", (), time(9), 1, date(2026, 5, 11), tz=MOSCOW)
    with pytest.raises(ValueError, match="shift_days must be 1 or more, not 0"):
        Rotation("zero", ("ann",), time(9), 0, date(2026, 5, 11), tz=MOSCOW)
    with pytest.raises(ValueError, match="wall-clock"):
        Rotation("zoned", ("ann",), time(9, tzinfo=UTC), 1, date(2026, 5, 11), tz=MOSCOW)
    with pytest.raises(ValueError, match="reserved for overrides"):
        Rotation("override", ("ann",), time(9), 1, date(2026, 5, 11), tz=MOSCOW)
    with pytest.raises(ValueError, match="must end after it starts"):
        Override("ann", utc(2026, 5, 12), utc(2026, 5, 11))
    with pytest.raises(ValueError, match="has no time zone"):
        who_is_on_duty(only(daily()), datetime(2026, 5, 12, 12))

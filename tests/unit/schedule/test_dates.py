"""Rotations limited to dates (holidays), alone or with windows, over DST changes (hypothesis)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.schedule.rotation import Rotation, Schedule, shifts, who_is_on_duty
from bridge.schedule.wallclock import day_of, day_start
from bridge.schedule.windows import parse_window
from tests.unit.schedule.test_properties import instants, rotations, weekly_windows
from tests.unit.schedule.zones import BERLIN, NEW_YORK, local

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True)
TICK = timedelta(microseconds=1)
# Dates around the 2026 DST changes of Berlin and New York, and a few others.
dates = st.frozensets(
    st.sampled_from(
        [date(2026, 3, d) for d in range(6, 10)]
        + [date(2026, 3, d) for d in range(27, 31)]
        + [date(2026, 10, d) for d in range(24, 27)]
        + [date(2026, 11, d) for d in range(1, 3)]
        + [date(2026, 12, 31), date(2027, 1, 1)]
    ),
    min_size=1,
    max_size=5,
)
dst_zones = st.sampled_from([BERLIN, NEW_YORK])


@st.composite
def dated_rotations(draw: st.DrawFn) -> Rotation:
    base = draw(rotations(windows=False, tz=draw(dst_zones)))
    windows = tuple(draw(st.lists(weekly_windows, max_size=2)))
    return Rotation(
        base.name,
        base.members,
        base.handoff,
        base.shift_days,
        base.anchor,
        windows,
        tz=base.tz,
        dates=draw(dates),
    )


@PROPERTY
@given(rotation=dated_rotations(), at=instants)
def test_a_dated_layer_holds_only_on_its_dates_and_inside_its_windows(rotation: Rotation, at: object) -> None:

    assert isinstance(at, datetime)
    expected = day_of(at, rotation.tz) in rotation.dates and (
        not rotation.windows or any(w.contains(at, rotation.tz) for w in rotation.windows)
    )
    assert rotation.covers(at) is expected
    duty = who_is_on_duty(Schedule("s", (rotation,)), at)
    assert (duty is not None) is expected
    if duty is not None:
        assert duty.shift_start <= at < duty.shift_end
        # The span is where the answer keeps holding: just inside both ends it is the same.
        for inside in (duty.shift_start, duty.shift_end - TICK):
            again = who_is_on_duty(Schedule("s", (rotation,)), inside)
            assert again is not None and again.person == duty.person


@PROPERTY
@given(rotation=dated_rotations())
def test_shifts_of_a_dated_layer_cover_exactly_its_days_across_dst(rotation: Rotation) -> None:
    start = day_start(min(rotation.dates), rotation.tz) - timedelta(days=1)
    end = day_start(max(rotation.dates), rotation.tz) + timedelta(days=2)
    spans = shifts(Schedule("s", (rotation,)), start, end)
    for first, second in pairwise(spans):
        assert first.shift_end <= second.shift_start
    for span in spans:
        assert day_of(span.shift_start, rotation.tz) in rotation.dates
        assert day_of(span.shift_end - TICK, rotation.tz) in rotation.dates
    if not rotation.windows:
        covered = sum((s.shift_end - s.shift_start for s in spans), timedelta(0))
        real = sum(
            (
                day_start(d + timedelta(days=1), rotation.tz) - day_start(d, rotation.tz)
                for d in rotation.dates
            ),
            timedelta(0),
        )
        assert covered == real  # 23 hours on a spring-forward day, 25 on a fall-back day


def test_a_holiday_layer_wins_on_its_days_and_keeps_wall_clock_hours_over_dst() -> None:
    weekends = Rotation(
        "weekends",
        ("ann", "bob"),
        time(9),
        7,
        date(2026, 1, 3),
        (parse_window("sat,sun 09:00-21:00"),),
        tz=BERLIN,
    )
    holidays = Rotation(
        "holidays",
        ("cid",),
        time(9),
        1,
        date(2026, 1, 1),
        (parse_window("09:00-21:00"),),
        tz=BERLIN,
        dates=frozenset({date(2026, 3, 29), date(2026, 3, 30)}),
    )
    schedule = Schedule("duty", (weekends, holidays))
    sunday = who_is_on_duty(schedule, local(BERLIN, 2026, 3, 29, 10))  # the spring-forward Sunday
    assert sunday is not None and (sunday.person, sunday.layer) == ("cid", "holidays")
    assert sunday.shift_end == local(BERLIN, 2026, 3, 29, 21)
    assert who_is_on_duty(schedule, local(BERLIN, 2026, 3, 30, 8, 59)) is None
    monday = who_is_on_duty(schedule, local(BERLIN, 2026, 3, 30, 9))
    assert monday is not None and monday.layer == "holidays"
    saturday = who_is_on_duty(schedule, local(BERLIN, 2026, 3, 28, 12))
    assert saturday is not None and saturday.layer == "weekends"

"""Properties of windows, calendars and rotas over generated zones, instants and rules (hypothesis).

Instants are drawn both anywhere in a few years and within days of the DST changes of the zones
under test, where the wall-clock rules are interesting.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.schedule.calendar import ServiceCalendar
from bridge.schedule.rotation import OVERRIDE_LAYER, Override, Rotation, Schedule, shifts, who_is_on_duty
from bridge.schedule.wallclock import wall_to_utc
from bridge.schedule.windows import WeeklyWindow, parse_window
from tests.unit.schedule.zones import TRANSITIONS, ZONES

TICK = timedelta(microseconds=1)
H = timedelta(hours=1)
PROPERTY = settings(max_examples=150, deadline=None, derandomize=True)

zones = st.sampled_from(ZONES)
anywhere = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
near_dst = st.builds(
    lambda change, seconds, micros: change + timedelta(seconds=seconds, microseconds=micros),
    st.sampled_from(TRANSITIONS),
    st.integers(-4 * 86400, 4 * 86400),
    st.sampled_from([0, 0, 0, 1, 999_999]),
)
instants = st.one_of(anywhere, near_dst)
# Quarter hours, so that boundaries land on DST changes (02:00, 03:00) and inside gaps (02:30).
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
weekly_windows = st.builds(WeeklyWindow, st.frozensets(st.integers(0, 6), min_size=1), wall_times, wall_times)
members = st.lists(st.sampled_from(["ann", "bob", "cid", "dan"]), min_size=1, max_size=4).map(tuple)


@st.composite
def rotations(draw: st.DrawFn, windows: bool = True, name: str = "r", tz: ZoneInfo | None = None) -> Rotation:
    return Rotation(
        name,
        draw(members),
        draw(wall_times),
        draw(st.integers(1, 14)),
        draw(st.dates(date(2024, 1, 1), date(2028, 12, 31))),
        tuple(draw(st.lists(weekly_windows, max_size=2))) if windows else (),
        tz=tz or draw(zones),
    )


def nominally_inside(window: WeeklyWindow, at: datetime, tz: ZoneInfo) -> bool:
    """The plain reading of a window on a day without DST changes: is the wall time inside?"""
    wall = at.astimezone(tz)
    day = timedelta(days=1)
    minute = wall.weekday() * day + timedelta(hours=wall.hour, minutes=wall.minute, seconds=wall.second)
    minute += timedelta(microseconds=wall.microsecond)
    for weekday in window.days:
        start = weekday * day + timedelta(hours=window.start.hour, minutes=window.start.minute)
        for week in (-7 * day, timedelta(0)):  # an overnight occurrence from last Sunday
            if start + week <= minute < start + week + window.length:
                return True
    return False


def far_from_dst(at: datetime, tz: ZoneInfo) -> bool:
    offsets = {(at + hours * H).astimezone(tz).utcoffset() for hours in range(-50, 51, 5)}
    return len(offsets) == 1


# -- wall clock -----------------------------------------------------------------------------------


@PROPERTY
@given(zones, near_dst, st.times(), st.times())
def test_wall_clock_to_instant(tz: ZoneInfo, near: datetime, one: time, other: time) -> None:
    day = near.astimezone(tz).date()
    early, late = sorted((one, other))
    assert wall_to_utc(day, early, tz) <= wall_to_utc(day, late, tz)  # never goes backwards
    wall = datetime.combine(day, early)
    at = wall_to_utc(day, early, tz)
    assert at.tzinfo is UTC
    seen = at.astimezone(tz).replace(tzinfo=None)
    if seen != wall:  # skipped: the first instant after the gap
        assert seen > wall
        assert (at - TICK).astimezone(tz).replace(tzinfo=None) < wall
    assert (at - H).astimezone(tz).replace(tzinfo=None) != wall  # a repeated time: the first one


# -- windows --------------------------------------------------------------------------------------


@PROPERTY
@given(weekly_windows, zones, instants)
def test_occurrence_holds_an_instant_exactly_when_contains_does(
    window: WeeklyWindow, tz: ZoneInfo, at: datetime
) -> None:
    span = window.occurrence(at, tz)
    assert (span is not None) == window.contains(at, tz)
    if far_from_dst(at, tz):
        assert window.contains(at, tz) == nominally_inside(window, at, tz)
    if span is not None:
        start, end = span
        assert start <= at < end
        assert start.tzinfo is UTC and end.tzinfo is UTC
        assert abs((end - start) - window.length) <= H  # a DST change moves it by an hour at most
        assert window.next_start(start - TICK, tz) == start  # it is a real start
        assert window.occurrence(start, tz) == span
        assert window.occurrence(end - TICK, tz) == span
        assert window.occurrence(end, tz) != span
    else:
        following = window.next_start(at, tz)
        assert following > at
        assert window.contains(following, tz)
        assert not window.contains(following - TICK, tz)  # nothing between `at` and the start


@PROPERTY
@given(weekly_windows, zones, instants)
def test_next_start_is_the_first_start_after(window: WeeklyWindow, tz: ZoneInfo, at: datetime) -> None:
    following = window.next_start(at, tz)
    assert following > at
    assert following - at <= timedelta(days=8)
    assert window.occurrence(following, tz) is not None
    spans = window.occurrences(at, following, tz)
    assert all(start <= at for start, _ in spans)  # nothing starts in (at, following)


@PROPERTY
@given(zones, instants, wall_times)
def test_windows_covering_everything_tile_time(tz: ZoneInfo, at: datetime, start: time) -> None:
    window = WeeklyWindow(frozenset(range(7)), start, start)  # 24 hours from `start`, every day
    span = window.occurrence(at, tz)
    following = window.occurrence(span[1], tz) if span else None
    previous = window.occurrence(span[0] - TICK, tz) if span else None
    assert span is not None and following is not None and previous is not None
    assert following[0] == span[1]  # no gap, no overlap
    assert previous[1] == span[0]


@PROPERTY
@given(weekly_windows)
def test_printed_windows_parse_back(window: WeeklyWindow) -> None:
    assert parse_window(str(window)) == window


# -- calendars ------------------------------------------------------------------------------------


@st.composite
def calendars(draw: st.DrawFn) -> ServiceCalendar:
    holidays = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2027, 1, 31)), max_size=6))
    return ServiceCalendar(draw(zones), tuple(draw(st.lists(weekly_windows, max_size=3))), holidays)


service_times = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=6))


@PROPERTY
@given(
    calendars(),
    st.one_of(near_dst, st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))),
    service_times,
)
def test_between_undoes_add(calendar: ServiceCalendar, a: datetime, service: timedelta) -> None:
    due = calendar.add(a, service)
    assert due >= a
    assert calendar.between(a, due) == service
    if service:
        assert calendar.is_open(due - TICK)
    else:
        assert calendar.is_open(due)


@PROPERTY
@given(calendars(), near_dst, service_times, service_times)
def test_add_is_monotonic(calendar: ServiceCalendar, a: datetime, one: timedelta, other: timedelta) -> None:
    low, high = sorted((one, other))
    assert calendar.add(a, low) <= calendar.add(a, high)
    assert calendar.between(a, a + high) >= calendar.between(a, a + low)


@PROPERTY
@given(
    calendars(),
    near_dst,
    st.timedeltas(timedelta(0), timedelta(days=5)),
    st.timedeltas(timedelta(0), timedelta(days=5)),
)
def test_between_adds_up(calendar: ServiceCalendar, a: datetime, first: timedelta, second: timedelta) -> None:
    b, c = a + first, a + first + second
    assert calendar.between(a, c) == calendar.between(a, b) + calendar.between(b, c)
    assert calendar.between(a, b) <= first


# -- rotas ----------------------------------------------------------------------------------------


@PROPERTY
@given(rotations(), instants)
def test_a_shift_is_the_same_answer_from_its_start_to_its_end(rotation: Rotation, at: datetime) -> None:
    schedule = Schedule("s", (rotation,))
    duty = who_is_on_duty(schedule, at)
    assert (duty is not None) == rotation.covers(at)
    if duty is None:
        return
    assert duty.shift_start <= at < duty.shift_end
    assert duty.shift_start.tzinfo is UTC and duty.shift_end.tzinfo is UTC
    assert who_is_on_duty(schedule, duty.shift_start) == duty
    assert who_is_on_duty(schedule, duty.shift_end - TICK) == duty


@PROPERTY
@given(rotations(windows=False), instants)
def test_shifts_tile_time(rotation: Rotation, at: datetime) -> None:
    schedule = Schedule("s", (rotation,))
    duty = who_is_on_duty(schedule, at)
    assert duty is not None
    following = who_is_on_duty(schedule, duty.shift_end)
    previous = who_is_on_duty(schedule, duty.shift_start - TICK)
    assert following is not None and previous is not None
    assert following.shift_start == duty.shift_end  # no gap, no overlap
    assert previous.shift_end == duty.shift_start
    index = rotation.shift_index(at)
    assert (previous.person, duty.person, following.person) == tuple(
        rotation.member(i) for i in (index - 1, index, index + 1)
    )
    nominal = timedelta(days=rotation.shift_days)
    assert abs((duty.shift_end - duty.shift_start) - nominal) <= H
    if far_from_dst(duty.shift_start, rotation.tz):
        assert duty.shift_start.astimezone(rotation.tz).time() == rotation.handoff


@st.composite
def schedules_around(draw: st.DrawFn, at: datetime) -> Schedule:
    tz = draw(zones)  # one zone for the schedule, as a team would have
    layers = tuple(draw(rotations(name=f"layer{n}", tz=tz)) for n in range(draw(st.integers(1, 3))))
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        start = at + timedelta(minutes=draw(st.integers(-2 * 1440, 8 * 1440)))
        overrides.append(Override("zed", start, start + timedelta(minutes=draw(st.integers(1, 2 * 1440)))))
    return Schedule("s", layers, tuple(overrides))


@PROPERTY
@given(st.data(), instants, st.timedeltas(timedelta(0), timedelta(days=8)))
def test_shift_listing_agrees_with_who_is_on_duty(
    data: st.DataObject, start: datetime, length: timedelta
) -> None:
    schedule = data.draw(schedules_around(start))
    end = start + length
    listing = shifts(schedule, start, end)
    for duty in listing:
        assert start <= duty.shift_start < duty.shift_end <= end
        assert duty.override == (duty.layer == OVERRIDE_LAYER)
    for before, after in pairwise(listing):
        assert before.shift_end <= after.shift_start  # in order, no overlap
        if before.shift_end == after.shift_start:
            assert (before.person, before.layer) != (after.person, after.layer)  # merged otherwise
    for duty in listing:
        for point in (
            duty.shift_start,
            duty.shift_end - TICK,
            duty.shift_start + (duty.shift_end - duty.shift_start) / 2,
        ):
            answer = who_is_on_duty(schedule, point)
            assert answer is not None
            assert (answer.person, answer.layer, answer.override) == (duty.person, duty.layer, duty.override)
    # Random points: inside a span it is that span's person; outside every span nobody.
    for fraction in data.draw(st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=5)):
        point = start + length * fraction
        if point >= end:
            continue
        holding = [d for d in listing if d.shift_start <= point < d.shift_end]
        answer = who_is_on_duty(schedule, point)
        if holding:
            assert answer is not None
            assert (answer.person, answer.layer) == (holding[0].person, holding[0].layer)
        else:
            assert answer is None

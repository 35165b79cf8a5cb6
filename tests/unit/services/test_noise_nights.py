"""The noise report's nights: the spans it counts pages in (in SQL) agree with `night_of` (which
names the night an instant falls in), for any period, night hours and instant."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bridge.services.noise import night_spans
from bridge.ticketing.report_settings import Night, night_of

MSK = ZoneInfo("Europe/Moscow")
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
CLOCKS = st.builds(time, st.integers(0, 23), st.sampled_from([0, 30]))


def test_a_day_in_moscow_overlaps_two_nights_of_21_to_9() -> None:
    start = datetime(2026, 11, 24, tzinfo=MSK)
    spans = night_spans(start, start + timedelta(days=1), MSK, Night(time(21), time(9)))
    assert [(s.day.isoformat(), s.begins.isoformat(), s.ends.isoformat()) for s in spans] == [
        ("2026-11-23", "2026-11-23T18:00:00+00:00", "2026-11-24T06:00:00+00:00"),
        ("2026-11-24", "2026-11-24T18:00:00+00:00", "2026-11-25T06:00:00+00:00"),
    ]


@given(INSTANTS, st.integers(1, 20 * 24), st.integers(0, 20 * 24 * 60), CLOCKS, CLOCKS)
def test_an_instant_of_the_period_is_in_the_span_of_the_night_night_of_names(
    start: datetime, hours: int, minute: int, begins: time, ends: time
) -> None:
    night = Night(begins, ends)
    end = start + timedelta(hours=hours)
    at = start + timedelta(minutes=minute % (hours * 60))
    spans = night_spans(start, end, MSK, night)
    containing = [s.day for s in spans if s.begins <= at < s.ends]
    named = night_of(at, MSK, night)
    assert containing == ([] if named is None else [named])
    assert all(s.begins < end and s.ends > start for s in spans)
    assert [s.day for s in spans] == sorted({s.day for s in spans})

"""The engine's reasons name instants as strftime writes them, in every zone and every year,
though it formats them another way (faster)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from bridge.dedup.engine import _wall_time

ZONES = st.sampled_from(
    [UTC, ZoneInfo("Europe/Moscow"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]
)


@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)), ZONES
)
def test_an_instant_reads_as_strftime_writes_it(instant: datetime, zone: ZoneInfo) -> None:
    local = instant.astimezone(zone)

    assert _wall_time(local) == local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "")

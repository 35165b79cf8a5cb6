"""Zones and instants shared by the schedule tests."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MOSCOW = ZoneInfo("Europe/Moscow")  # no DST since 2011: the control
SYDNEY = ZoneInfo("Australia/Sydney")
ZONES = (BERLIN, NEW_YORK, MOSCOW, SYDNEY)

# The 2026 DST changes of the zones above, in UTC.
TRANSITIONS = (
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin: 02:00 CET -> 03:00 CEST
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin: 03:00 CEST -> 02:00 CET
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York: 02:00 EST -> 03:00 EDT
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York: 02:00 EDT -> 01:00 EST
    datetime(2026, 4, 4, 16, tzinfo=UTC),  # Sydney: 03:00 AEDT -> 02:00 AEST
    datetime(2026, 10, 3, 16, tzinfo=UTC),  # Sydney: 02:00 AEST -> 03:00 AEDT
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An aware UTC instant."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(
    tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> datetime:
    """An aware instant given as wall-clock fields in `tz` (fold=1: the second of a repeated time)."""
    return datetime(year, month, day, hour, minute, tzinfo=tz, fold=fold)

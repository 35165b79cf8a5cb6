"""Parsing and printing durations and instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.timeutil import format_duration, parse_duration, parse_instant


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["", "10", "m", "10 m", "10x", "1h 30m", "-5m"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("45s", "10m", "1h30m", "2d", "1d2h3m4s"):
        assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-11-22T06:51:30.734253229Z", datetime(2026, 11, 22, 6, 51, 30, 734253, tzinfo=UTC)),
        ("2026-11-22T06:51:23.7Z", datetime(2026, 11, 22, 6, 51, 23, 700000, tzinfo=UTC)),
        ("2026-11-22T09:51:23+03:00", datetime(2026, 11, 22, 6, 51, 23, tzinfo=UTC)),
    ],
)
def test_parse_instant(text: str, instant: datetime) -> None:
    assert parse_instant(text) == instant


def test_parse_instant_needs_a_zone() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        parse_instant("2026-11-22T06:51:23")

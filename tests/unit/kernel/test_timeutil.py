"""Parsing and printing durations and instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.timeutil import format_duration, parse_duration, parse_instant, parse_typed_instant


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


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-04t10:00:00z", datetime(2026, 12, 4, 10, tzinfo=UTC)),  # RFC 3339 allows lowercase
        ("2026-12-04 10:00:00+00:00", datetime(2026, 12, 4, 10, tzinfo=UTC)),  # and a space (its note)
        ("2026-12-04T10:00:00.123456789123-00:30", datetime(2026, 12, 4, 10, 30, 0, 123456, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),  # Go's zero time
    ],
)
def test_parse_instant_takes_every_rfc_3339_form(text: str, instant: datetime) -> None:
    assert parse_instant(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04T10:00:00\x00Z",
        "2026-W49-5T10:00:00Z",  # ISO 8601 week date
        "20261204T100000Z",  # ISO 8601 basic format
        "2026-338T10:00:00Z",  # ordinal date
        "2026-12-04T10:00Z",  # no seconds
        "2026-12-04T10Z",
        "2026-12-04",
        "2026-12-04T10:00:00,5Z",
        "2026-12-04T10:00:00+0500",
        "2026-12-04T10:00:00+05",
        "2026-12-04T10:00:00+24:00",
        " 2026-12-04T10:00:00Z",
        "2026-12-04T10:00:00Z ",
        "\uff12\uff10\uff12\uff16-12-04T10:00:00Z",  # fullwidth digits
        "2026-02-30T10:00:00Z",
        "2026-12-04T10:00:60Z",  # a leap second: no datetime holds it
        "9999-12-31T23:00:00-05:00",  # past year 9999 in UTC (OverflowError before)
        "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    ],
)
def test_parse_instant_refuses_everything_else_with_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-12-05T23:00Z", datetime(2026, 12, 5, 23, tzinfo=UTC)),  # the seconds left out
        ("2026-12-05 23:00+03:00", datetime(2026, 12, 5, 20, tzinfo=UTC)),
        ("2026-12-05T23:00:30+0300", datetime(2026, 12, 5, 20, 0, 30, tzinfo=UTC)),  # no colon
        (" 2026-12-05T23:00:00Z ", datetime(2026, 12, 5, 23, tzinfo=UTC)),  # pasted with spaces
        ("2026-12-05T23:00:00.5-01:00", datetime(2026, 12, 6, 0, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_an_instant_a_person_types_may_leave_out_seconds_and_the_offset_s_colon(
    text: str, instant: datetime
) -> None:
    assert parse_typed_instant(text) == instant


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-05T23:00",  # no zone: the CLI places such times in the rota's zone itself
        "2026-12-05T23Z",
        "2026-W49-6T23:00Z",
        "\uff12\uff10\uff12\uff16-12-05T23:00Z",  # fullwidth digits
        "2026-12-05T23:00\x00Z",
        "2026-12-05T24:00Z",
        "2026-12-05T23:00+2400",
        "9999-12-31T23:00-05:00",
    ],
)
def test_what_a_person_types_is_still_refused_when_it_names_no_single_instant(text: str) -> None:
    with pytest.raises(ValueError):
        parse_typed_instant(text)

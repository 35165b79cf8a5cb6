"""The buttons under a Telegram page: short callback data (Telegram allows 64 bytes), read back
exactly, and nothing else is read as a press; the buttons left after an action are the ones that
still make sense."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.ticketing.buttons import (
    BUTTON_ACTIONS,
    MAX_NUMBER,
    Press,
    actions_left,
    callback_data,
    keyboard,
    parse_press,
)
from bridge.ticketing.lifecycle import IncidentAction, IncidentStatus


@given(st.sampled_from(BUTTON_ACTIONS), st.integers(min_value=1, max_value=MAX_NUMBER))
def test_callback_data_is_short_and_reads_back_as_the_same_press(action: IncidentAction, number: int) -> None:
    data = callback_data(action, number)
    assert len(data.encode()) <= 64
    assert parse_press(data) == Press(action, number)


@given(st.text(max_size=80))
def test_anything_else_is_no_press_or_exactly_a_buttons_press(data: str) -> None:
    found = parse_press(data)
    if found is not None:
        assert callback_data(found.action, found.incident) == data


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "ack:",
        "ack:0",
        "ack:01",
        "ack:-1",
        "ack:1 ",
        "ack:1\n",
        "comment:1",
        "close:1",
        "cancel:1",
        "ACK:1",
        "ack:1:admin",
        f"ack:{MAX_NUMBER + 1}",
        "ack:\uff11",  # a full-width digit one
    ],
)
def test_data_that_is_not_a_buttons_is_no_press(data: str | None) -> None:
    assert parse_press(data) is None


def test_only_the_buttons_that_still_make_sense_are_left() -> None:
    assert actions_left(IncidentStatus.OPEN) == [
        IncidentAction.ACK,
        IncidentAction.ESCALATE,
        IncidentAction.RESOLVE,
    ]
    assert actions_left(IncidentStatus.ACKNOWLEDGED) == [IncidentAction.ESCALATE, IncidentAction.RESOLVE]
    assert actions_left(IncidentStatus.RESOLVED) == []
    assert actions_left(IncidentStatus.CLOSED) == []
    rows = keyboard(7, IncidentStatus.RESOLVED, "https://bridge.example/incidents/7")
    assert [[(b.label, b.data, b.url) for b in row] for row in rows] == [
        [("Open in console", None, "https://bridge.example/incidents/7")]
    ]
    assert keyboard(7, IncidentStatus.CLOSED, None) == []

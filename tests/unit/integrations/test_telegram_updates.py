"""Updates from the Bot API become typed values or nothing: a press, a text (a command or a reply
to a message), or an update taken and ignored; whatever the JSON holds, parsing never raises."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge.integrations.telegram import CallbackPress, OtherUpdate, TextMessage, markup, parse_update
from bridge.ticketing.buttons import Button

PRESS = {
    "update_id": 10,
    "callback_query": {
        "id": "4382bfdwdsb323b2d9",
        "from": {"id": 100001, "is_bot": False, "first_name": "Oleg"},
        "message": {"message_id": 77, "chat": {"id": 100001, "type": "private"}, "date": 0},
        "chat_instance": "-1",
        "data": "ack:12",
    },
}
REPLY = {
    "update_id": 11,
    "message": {
        "message_id": 80,
        "from": {"id": 100001, "is_bot": False, "first_name": "Oleg"},
        "chat": {"id": 100001, "type": "private"},
        "date": 0,
        "text": "on my way",
        "reply_to_message": {"message_id": 77, "chat": {"id": 100001, "type": "private"}, "date": 0},
    },
}


def test_a_press_and_a_reply_as_telegram_sends_them() -> None:
    assert parse_update(PRESS) == CallbackPress(10, "4382bfdwdsb323b2d9", 100001, "ack:12", 100001, 77)
    assert parse_update(REPLY) == TextMessage(11, 100001, 100001, "on my way", 77)


def test_updates_bridge_does_not_act_on_are_taken_and_ignored() -> None:
    photo = {"update_id": 12, "message": {"message_id": 1, "from": {"id": 5}, "chat": {"id": 5}, "photo": []}}
    assert parse_update(photo) == OtherUpdate(12, 5)
    assert parse_update({"update_id": 13, "edited_message": {}}) == OtherUpdate(13, None)
    assert parse_update({"update_id": True}) is None  # a bool is no id
    assert parse_update({"callback_query": PRESS["callback_query"]}) is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_parsing_any_json_never_raises(raw: Any) -> None:
    parse_update(raw)


@given(st.dictionaries(st.sampled_from(["id", "from", "message", "data", "chat"]), JSON, max_size=5))
def test_parsing_any_callback_query_never_raises(query: dict[str, Any]) -> None:
    found = parse_update({"update_id": 1, "callback_query": query})
    assert isinstance(found, CallbackPress | OtherUpdate)


def test_an_inline_keyboard_is_callback_and_url_buttons() -> None:
    rows = [
        [Button("Acknowledge", data="ack:1")],
        [Button("Open in console", url="https://b.example/incidents/1")],
    ]
    assert markup(rows) == {
        "inline_keyboard": [
            [{"text": "Acknowledge", "callback_data": "ack:1"}],
            [{"text": "Open in console", "url": "https://b.example/incidents/1"}],
        ]
    }

"""The Telegram Bot API as bridge's bot uses it: getUpdates (long polling), sendMessage with inline
buttons, editMessageText, answerCallbackQuery, setWebhook / deleteWebhook; and the updates it
receives, parsed into typed values (`parse_update`). The bot token is in every URL: it never
appears in an error text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from bridge.errors import PermanentFailure
from bridge.ticketing.buttons import Button

TIMEOUT = 10.0
"""Seconds a call other than a long poll may take."""
TEXT_MAX = 4096
"""The Bot API's longest message text."""
ANSWER_MAX = 200
"""The longest text answerCallbackQuery shows."""


@dataclass(frozen=True, slots=True)
class CallbackPress:
    """A press of an inline button: who pressed (`from_id`), the data, and the message it was under."""

    update_id: int
    query_id: str
    from_id: int
    data: str | None
    chat_id: int | None
    message_id: int | None


@dataclass(frozen=True, slots=True)
class TextMessage:
    """A text sent to the bot: a command (/start), or a reply to one of its messages."""

    update_id: int
    from_id: int
    chat_id: int
    text: str
    reply_to: int | None  # the message id it answers, in the same chat


@dataclass(frozen=True, slots=True)
class OtherUpdate:
    """Anything else (a photo, an edited message, a channel post): taken, and nothing done."""

    update_id: int
    from_id: int | None


Update = CallbackPress | TextMessage | OtherUpdate


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_update(raw: object) -> Update | None:
    """One update of getUpdates or of a webhook as a typed value; None when it has no update id."""
    if not isinstance(raw, dict):
        return None
    update_id = _int(raw.get("update_id"))
    if update_id is None:
        return None
    query = raw.get("callback_query")
    if isinstance(query, dict):
        sender = query.get("from")
        from_id = _int(sender.get("id")) if isinstance(sender, dict) else None
        query_id = query.get("id")
        if from_id is None or not isinstance(query_id, str):
            return OtherUpdate(update_id, from_id)
        message = query.get("message")
        chat_id = message_id = None
        if isinstance(message, dict):
            message_id = _int(message.get("message_id"))
            chat = message.get("chat")
            chat_id = _int(chat.get("id")) if isinstance(chat, dict) else None
        data = query.get("data")
        return CallbackPress(
            update_id, query_id, from_id, data if isinstance(data, str) else None, chat_id, message_id
        )
    message = raw.get("message")
    if isinstance(message, dict):
        sender = message.get("from")
        from_id = _int(sender.get("id")) if isinstance(sender, dict) else None
        chat = message.get("chat")
        chat_id = _int(chat.get("id")) if isinstance(chat, dict) else None
        text = message.get("text")
        if from_id is None or chat_id is None or not isinstance(text, str):
            return OtherUpdate(update_id, from_id)
        replied = message.get("reply_to_message")
        reply_to = _int(replied.get("message_id")) if isinstance(replied, dict) else None
        return TextMessage(update_id, from_id, chat_id, text, reply_to)
    return OtherUpdate(update_id, None)


def markup(rows: list[list[Button]]) -> dict[str, Any]:
    """`reply_markup` of an inline keyboard."""
    return {
        "inline_keyboard": [
            [
                {"text": b.label, "url": b.url} if b.url else {"text": b.label, "callback_data": b.data}
                for b in row
            ]
            for row in rows
        ]
    }


class TelegramBot:
    """The Bot API calls bridge makes; the base URL is a setting so tests can point it elsewhere."""

    def __init__(self, token: str, base_url: str, http: requests.Session | None = None) -> None:
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.http = http or requests.Session()

    def call(self, method: str, payload: dict[str, Any], timeout: float = TIMEOUT) -> Any:
        """`method`'s result; PermanentFailure when Telegram refuses it for good (4xx but 429),
        RuntimeError for what a retry may cure. Neither carries the token."""
        url = f"{self.base_url}/bot{self.token}/{method}"
        try:
            response = self.http.post(url, json=payload, timeout=timeout)
        except requests.RequestException as exc:
            raise RuntimeError(self.hide(f"{exc.__class__.__name__}: {exc}")) from None
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        if response.status_code < 300 and isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        text = self.hide(f"HTTP {response.status_code}: {response.text[:300]}")
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            raise PermanentFailure(text)
        raise RuntimeError(text)

    def hide(self, text: str) -> str:
        """Error texts carry the URL, and the URL carries the bot token."""
        return text.replace(self.token, "***")

    def get_updates(self, offset: int, timeout: int) -> list[Update]:
        """The updates from `offset` on, waiting up to `timeout` seconds for one (which also tells
        Telegram that every update before `offset` is taken)."""
        result = self.call(
            "getUpdates",
            {"offset": offset, "timeout": timeout, "allowed_updates": ["message", "callback_query"]},
            timeout=timeout + TIMEOUT,
        )
        found = [parse_update(raw) for raw in result] if isinstance(result, list) else []
        return [update for update in found if update is not None]

    def send_message(
        self, chat_id: int | str, text: str, rows: list[list[Button]] | None = None
    ) -> int | None:
        """Send `text` (with buttons); the message id Telegram gave it."""
        payload: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text[:TEXT_MAX],
            "disable_web_page_preview": True,
        }
        if rows:
            payload["reply_markup"] = markup(rows)
        result = self.call("sendMessage", payload)
        return _int(result.get("message_id")) if isinstance(result, dict) else None

    def edit_message(self, chat_id: int, message_id: int, text: str, rows: list[list[Button]]) -> None:
        """Replace a sent message's text and buttons."""
        self.call(
            "editMessageText",
            {
                "chat_id": chat_id,
                "message_id": message_id,
                "text": text[:TEXT_MAX],
                "disable_web_page_preview": True,
                "reply_markup": markup(rows),
            },
        )

    def answer_press(self, query_id: str, text: str) -> None:
        """The short note Telegram shows the person who pressed."""
        self.call("answerCallbackQuery", {"callback_query_id": query_id, "text": text[:ANSWER_MAX]})

    def set_webhook(self, url: str, secret: str) -> None:
        self.call(
            "setWebhook",
            {"url": url, "secret_token": secret, "allowed_updates": ["message", "callback_query"]},
        )

    def delete_webhook(self) -> None:
        self.call("deleteWebhook", {"drop_pending_updates": False})

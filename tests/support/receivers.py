"""Real receivers for outgoing notifications: an SMTP server (aiosmtpd) and an HTTP server that
stands in for the Telegram Bot API and people's webhooks. Both listen on 127.0.0.1, record what
they get, and can be told to fail.

The Telegram side speaks what bridge's bot uses as the real Bot API does: `sendMessage` answers
the new message (its `message_id` counts up, per server), `editMessageText` the edited one,
`answerCallbackQuery` true, and `getUpdates` the queued updates from `offset` on (an offset
confirms, and forgets, every update before it), waiting up to `timeout` seconds for one to come
(`TelegramUpdates.press`, `.text` queue them as a person would by pressing or writing)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return str(self.message.get_content()).replace("\r\n", "\n")  # SMTP lines end in CRLF


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self.refuse: set[str] = set()  # recipients answered with 550
        self.data_answer: str | None = None  # the answer to DATA instead of taking the mail

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 no such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_answer is not None:
            return self.data_answer
        content = envelope.original_content or b""
        self.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos), _parse(content)))
        return "250 Message accepted for delivery"


def _parse(content: bytes) -> EmailMessage:
    message = message_from_bytes(content, policy=policy.default)  # decodes headers and bodies
    assert isinstance(message, EmailMessage)
    return message


@contextmanager
def smtp_server() -> Iterator[tuple[str, _Inbox]]:
    """A real SMTP server; yields its smtp:// URL and the inbox."""
    inbox = _Inbox()
    with socket.socket() as probe:  # aiosmtpd 1.4 cannot listen on port 0 itself
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{controller.port}", inbox
    finally:
        controller.stop()


@dataclass
class Request:
    path: str
    body: Any
    answer: Any = None  # the result answered (the Bot API's: a sent message, with its id)


class TelegramUpdates:
    """The updates a stand-in bot has for getUpdates, as Telegram keeps them: in order, each with
    an update id one above the last, forgotten once an offset above it was asked for."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.next_id = 700_000
        self.next_message_id = 0
        self.polls: list[dict[str, Any]] = []  # every getUpdates body, in turn
        self.changed = threading.Condition()

    def add(self, update: dict[str, Any]) -> int:
        with self.changed:
            self.next_id += 1
            self.pending.append({"update_id": self.next_id, **update})
            self.changed.notify_all()
            return self.next_id

    def press(self, from_id: int, data: str, chat_id: int, message_id: int, query: str = "") -> int:
        """Someone pressed a button under message `message_id` of chat `chat_id`."""
        return self.add(
            {
                "callback_query": {
                    "id": query or f"q{self.next_id + 1}",
                    "from": {"id": from_id, "is_bot": False, "first_name": f"user{from_id}"},
                    "message": {"message_id": message_id, "chat": {"id": chat_id, "type": "private"}},
                    "chat_instance": "1",
                    "data": data,
                }
            }
        )

    def text(self, from_id: int, text: str, chat_id: int | None = None, reply_to: int | None = None) -> int:
        """Someone wrote `text` to the bot (as a reply to message `reply_to`)."""
        chat = {"id": chat_id if chat_id is not None else from_id, "type": "private"}
        message: dict[str, Any] = {
            "message_id": 900_000 + self.next_id,
            "from": {"id": from_id, "is_bot": False, "first_name": f"user{from_id}"},
            "chat": chat,
            "date": 0,
            "text": text,
        }
        if reply_to is not None:
            message["reply_to_message"] = {"message_id": reply_to, "chat": chat, "date": 0}
        return self.add({"message": message})

    def get(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        offset, timeout = int(body.get("offset") or 0), float(body.get("timeout") or 0)
        deadline = time.monotonic() + timeout
        with self.changed:
            self.polls.append(dict(body))
            while True:
                if offset:
                    self.pending = [u for u in self.pending if u["update_id"] >= offset]
                if self.pending or time.monotonic() >= deadline:
                    return list(self.pending)
                self.changed.wait(deadline - time.monotonic())

    def message_id(self) -> int:
        with self.changed:
            self.next_message_id += 1
            return self.next_message_id


@dataclass
class HttpSink:
    """What was POSTed, and failures to answer with: path prefix -> statuses to use in turn."""

    requests: list[Request] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    authorizations: list[str | None] = field(default_factory=list)  # of every request, in turn
    lock: threading.Lock = field(default_factory=threading.Lock)
    telegram: TelegramUpdates = field(default_factory=TelegramUpdates)

    def posted(self, prefix: str) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def wait_for(
        self, prefix: str, check: Callable[[list[Request]], bool], timeout: float = 15
    ) -> list[Request]:
        """What was POSTed under `prefix`, once `check` holds for it (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        while not check(found := self.posted(prefix)):
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting after {timeout}s; posted under {prefix}: {found}")
            time.sleep(0.05)
        return found

    def status_for(self, path: str) -> int:
        with self.lock:
            for prefix, statuses in self.failures.items():
                if path.startswith(prefix) and statuses:
                    return statuses.pop(0)
        return 200


def _bot_result(method: str, body: Any, updates: TelegramUpdates) -> Any:
    """What the Bot API answers `method` with (any other path: a webhook, answered the same)."""
    if method in ("answerCallbackQuery", "setWebhook", "deleteWebhook"):
        return True
    chat = {"id": body.get("chat_id") if isinstance(body, dict) else None, "type": "private"}
    text = body.get("text") if isinstance(body, dict) else None
    if method == "editMessageText" and isinstance(body, dict):
        return {"message_id": body.get("message_id"), "chat": chat, "date": 0, "text": text}
    return {"message_id": updates.message_id(), "chat": chat, "date": 0, "text": text}


@contextmanager
def http_server() -> Iterator[tuple[str, HttpSink]]:
    """A real HTTP server on 127.0.0.1 answering POSTs like the Telegram Bot API ({"ok": true})."""
    sink = HttpSink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            status = sink.status_for(self.path)
            with sink.lock:
                sink.authorizations.append(self.headers.get("Authorization"))
            body = json.loads(raw) if raw else None
            method = self.path.rsplit("/", 1)[-1]
            if status == 200 and method == "getUpdates":  # polls are kept apart: they never stop
                answer: dict[str, Any] = {"ok": True, "result": sink.telegram.get(body or {})}
            elif status == 200:
                result = _bot_result(method, body, sink.telegram)
                with sink.lock:
                    sink.requests.append(Request(self.path, body, result))
                answer = {"ok": True, "result": result}
            else:
                answer = {"ok": False, "error_code": status, "description": "stand-in failure"}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

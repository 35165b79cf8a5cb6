"""Real receivers for outgoing notifications: an SMTP server (aiosmtpd) and an HTTP server that
stands in for the Telegram Bot API and people's webhooks. Both listen on 127.0.0.1, record what
they get, and can be told to fail."""

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


@dataclass
class HttpSink:
    """What was POSTed, and failures to answer with: path prefix -> statuses to use in turn."""

    requests: list[Request] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)
    authorizations: list[str | None] = field(default_factory=list)  # of every request, in turn
    lock: threading.Lock = field(default_factory=threading.Lock)

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
            if status == 200:
                with sink.lock:
                    sink.requests.append(Request(self.path, body))
                answer = {"ok": True, "result": {"message_id": len(sink.requests)}}
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

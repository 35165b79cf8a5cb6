"""Mail to the desk for the mail intake tests: messages as a client's mail program and the
receiving server would make them, and a desk (the example rota, a real SMTP server for bridge's
answers, a real Dovecot for its mailbox) to send them to."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from bridge.clock import FakeClock
from bridge.settings import Settings
from bridge.web.app import create_app
from tests.support.app import build_runtime, make_settings, write_rules
from tests.support.dovecot import PASSWORD, USER, Dovecot, dovecot
from tests.support.duty import BASE_URL, EXAMPLE_ROTA, RULES, Desk
from tests.support.receivers import http_server, smtp_server

AUTHSERV = "mx.desk.example"
DESK_ADDRESS = "support@desk.example"


def mail(
    sender: str,
    subject: str,
    text: str = "Hello, something is wrong.",
    *,
    message_id: str,
    verified: bool = True,
    html: str | None = None,
    in_reply_to: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    when: datetime | None = None,
) -> bytes:
    """A client's mail as it sits in the desk's mailbox: with the receiving server's
    Authentication-Results on top when `verified`."""
    message = EmailMessage()
    if verified:
        domain = sender.rsplit("@", 1)[-1].rstrip(">")
        message["Authentication-Results"] = (
            f"{AUTHSERV}; dkim=pass header.d={domain} header.s=mail; spf=pass smtp.mailfrom={domain}"
        )
    message["From"] = sender
    message["To"] = DESK_ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    if when is not None:
        message["Date"] = format_datetime(when)
    if in_reply_to is not None:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return bytes(message)


@dataclass
class MailDesk:
    """A Desk whose bridge reads a real Dovecot mailbox."""

    desk: Desk
    imap: Dovecot
    settings: Settings

    def send(self, raw: bytes) -> None:
        self.imap.deliver(raw)

    def poll(self) -> None:
        """What the worker does within one polling interval: the periodic poll, then the
        notifications it queued."""
        self.desk.clock.advance(self.settings.imap_poll)
        self.desk.drain()
        self.desk.drain()

    def mails_to(self, address: str) -> list[Any]:
        return [m for m in self.desk.inbox.mails if m.recipients == [address]]

    def incidents(self) -> list[dict[str, Any]]:
        return list(self.desk.get("/api/incidents", limit=500)["items"])


@contextmanager
def mail_desk(
    database_url: str, tmp_path: Path, clock: FakeClock, tls: str | None = None, **overrides: Any
) -> Iterator[MailDesk]:
    """A desk reading a Dovecot mailbox: plain IMAP on loopback (allowed explicitly), or with `tls`
    "imaps" or "starttls" to `localhost` with a self-signed certificate (trusted through
    SSL_CERT_FILE unless `overrides` says `trust=False`)."""
    trust = overrides.pop("trust", True)
    with (
        dovecot(tls=tls is not None) as imap,
        smtp_server() as (smtp_url, inbox),
        http_server() as (http_url, sink),
        _trusting(imap.ca_file if trust else None),
    ):
        imap_url, plain = imap.url, True
        if tls == "imaps":
            imap_url, plain = f"imaps://{USER}:{PASSWORD}@localhost:{imap.tls_port}", False
        elif tls == "starttls":
            imap_url, plain = f"imap://{USER}:{PASSWORD}@localhost:{imap.port}?starttls=true", False
        rules_dir = write_rules(tmp_path / "rules", RULES)
        rota = EXAMPLE_ROTA.read_text().replace("https://chat.desk.example", http_url)
        (rules_dir / "rota.yaml").write_text(rota)
        settings = make_settings(
            database_url,
            rules_dir,
            smtp_url=smtp_url,
            smtp_from=DESK_ADDRESS,
            base_url=BASE_URL,
            imap_url=imap_url,
            imap_allow_plain=plain,
            mail_authserv_id=AUTHSERV,
            **overrides,
        )
        runtime = build_runtime(settings, clock)
        try:
            desk = Desk(create_app(runtime=runtime).test_client(), runtime, clock, inbox, sink, rules_dir)
            yield MailDesk(desk, imap, settings)
        finally:
            runtime.close()


@contextmanager
def _trusting(ca_file: Path | None) -> Iterator[None]:
    """Python's default TLS context trusts SSL_CERT_FILE's certificates (the environment: an edge)."""
    before = os.environ.get("SSL_CERT_FILE")
    if ca_file is not None:
        os.environ["SSL_CERT_FILE"] = str(ca_file)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = before

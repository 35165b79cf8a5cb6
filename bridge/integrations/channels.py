"""The channels notifications go out by: e-mail over SMTP, Telegram's Bot API, and a JSON POST
to a person's own webhook. Each sends one rendered message or raises (`PermanentFailure` when
retrying cannot help); retrying and recording is the notifications service's business."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from bridge.errors import PermanentFailure
from bridge.settings import Settings
from bridge.ticketing.rota import Person

TIMEOUT = 10.0
"""Seconds a send may take."""


class Channel(Protocol):
    name: str

    def address(self, person: Person) -> str | None:
        """Where this person is reached on this channel, or None."""
        ...

    def send(self, address: str, message: Message) -> None:
        """Deliver, or raise (PermanentFailure when retrying cannot help)."""
        ...


@dataclass(frozen=True, slots=True)
class Message:
    notification: int
    incident: int | None
    person: str
    kind: str
    subject: str
    body: str


class EmailChannel:
    """SMTP: ``smtp://user:pass@host:25`` (``?starttls=true`` to upgrade), or ``smtps://`` for TLS."""

    name = "email"

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = parse_qs(parts.query).get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        self.sender = sender

    def address(self, person: Person) -> str | None:
        return person.email

    def send(self, address: str, message: Message) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<bridge-notification-{message.notification}@{self.sender.split('@')[-1]}>"
        if message.incident is not None:
            mail["X-Bridge-Incident"] = str(message.incident)
        mail.set_content(message.body)
        context = ssl.create_default_context()
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(self.host, self.port, timeout=TIMEOUT, context=context)
            if self.tls
            else smtplib.SMTP(self.host, self.port, timeout=TIMEOUT)
        )
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.user and self.password:
                smtp.login(self.user, self.password)
            try:
                smtp.send_message(mail)
            except smtplib.SMTPRecipientsRefused as exc:
                raise PermanentFailure(f"recipient refused: {exc.recipients}") from None


class TelegramChannel:
    """The Bot API's sendMessage; the base URL is a setting so tests can point it elsewhere."""

    name = "telegram"

    def __init__(self, token: str, base_url: str, http: requests.Session | None = None) -> None:
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.http = http or requests.Session()

    def address(self, person: Person) -> str | None:
        return person.telegram

    def send(self, address: str, message: Message) -> None:
        url = f"{self.base_url}/bot{self.token}/sendMessage"
        text = f"{message.subject}\n\n{message.body}"[:4096]  # the Bot API's limit
        try:
            response = self.http.post(
                url,
                json={"chat_id": address, "text": text, "disable_web_page_preview": True},
                timeout=TIMEOUT,
            )
        except requests.RequestException as exc:
            raise RuntimeError(self._hide(f"{exc.__class__.__name__}: {exc}")) from None
        _check(response, self._hide)
        body = response.json() if response.content else {}
        if not isinstance(body, dict) or body.get("ok") is not True:
            raise RuntimeError(self._hide(f"Telegram answered {response.text[:300]}"))

    def _hide(self, text: str) -> str:
        """Error texts carry the URL, and the URL carries the bot token."""
        return text.replace(self.token, "***")


class WebhookChannel:
    """POST the message as JSON to the person's own webhook URL."""

    name = "webhook"

    def __init__(self, http: requests.Session | None = None) -> None:
        self.http = http or requests.Session()

    def address(self, person: Person) -> str | None:
        return person.webhook

    def send(self, address: str, message: Message) -> None:
        payload = {
            "kind": message.kind,
            "incident": message.incident,
            "person": message.person,
            "subject": message.subject,
            "text": message.body,
        }
        try:
            response = self.http.post(address, json=payload, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RuntimeError(f"{exc.__class__.__name__}: {exc}") from None
        _check(response, lambda text: text)


def _check(response: requests.Response, hide: Callable[[str], str]) -> None:
    if response.status_code < 300:
        return
    text = hide(f"HTTP {response.status_code}: {response.text[:300]}")
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise PermanentFailure(text)
    raise RuntimeError(text)


def channels_from(settings: Settings) -> list[Channel]:
    """The channels the settings enable; webhooks always (a person either has one or not)."""
    found: list[Channel] = []
    if settings.smtp_url:
        found.append(EmailChannel(settings.smtp_url, settings.smtp_from))
    if settings.telegram_token:
        found.append(TelegramChannel(settings.telegram_token, settings.telegram_api_url))
    found.append(WebhookChannel())
    return found

"""The channels notifications go out by: e-mail over SMTP, Telegram's Bot API, and a JSON POST
to a person's own webhook. Each sends one rendered message or raises (`PermanentFailure` when
retrying cannot help); retrying and recording is the notifications service's business.

A person's webhook URL is a secret (Slack and Mattermost put the key in its path): it is used to
send and nowhere else; what is shown of it (`shown_address`) is its scheme and host, and the
errors of sending to it never carry it."""

from __future__ import annotations

import contextlib
import email.errors
import smtplib
import ssl
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from bridge.errors import PermanentFailure
from bridge.integrations.telegram import TelegramBot
from bridge.settings import Settings
from bridge.ticketing.buttons import ACTIONABLE, keyboard
from bridge.ticketing.lifecycle import IncidentStatus
from bridge.ticketing.rota import Person

TIMEOUT = 10.0
"""Seconds a send may take."""
AUTO_REPLIES = frozenset({"mail_received", "mail_unknown", "mail_resolved"})
"""Message kinds that answer a client's mail (bridge.services.mail_intake)."""


class Channel(Protocol):
    name: str

    def address(self, person: Person) -> str | None:
        """Where this person is reached on this channel, or None."""
        ...

    def send(self, address: str, message: Message) -> str | None:
        """Deliver, or raise (PermanentFailure when retrying cannot help); what the channel calls
        the sent message (a Telegram message id), if anything."""
        ...


@dataclass(frozen=True, slots=True)
class Message:
    notification: int
    incident: int | None
    person: str
    kind: str
    subject: str
    body: str
    incident_status: str | None = None  # the incident's status when the message was taken to send


def one_line(text: str) -> str:
    """`text` fit for a mail header or a subject: every line break (CR, LF, VT, FF, NEL, U+2028,
    U+2029 ...) and control character becomes a space, runs of spaces one, and a lone surrogate
    (it cannot be encoded) U+FFFD."""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else "\ufffd" if "\ud800" <= c <= "\udfff" else c
        for c in text
    )
    return " ".join(cleaned.split())


def url_origin(url: str) -> str:
    """What may be shown of a secret URL: ``https://hooks.slack.com/...``, its scheme and host
    (and port), never its user, password, path or query."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "(a URL)"
    if not parts.scheme or not host:
        return "(a URL)"
    shown = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{shown}{f':{port}' if port else ''}/..."


def shown_address(channel: str, address: str) -> str:
    """An address as the timeline, the API and the log may show it: a webhook URL as its origin
    only; an e-mail address or a Telegram chat id as it is."""
    return url_origin(address) if channel == WebhookChannel.name else address


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
        mail = self.compose(address, message)
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
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                if 500 <= exc.smtp_code < 600:  # 4xx is "try again later"; 5xx is for good
                    raise PermanentFailure(f"message refused: {exc.smtp_code} {exc.smtp_error!r}") from None
                raise
            except (smtplib.SMTPNotSupportedError, email.errors.MessageError, ValueError) as exc:
                # Serializing it failed (a header Python's email package refuses, an address the
                # server cannot take): the same message fails the same way every time.
                raise PermanentFailure(
                    f"the message cannot be sent: {exc.__class__.__name__}: {exc}"
                ) from None

    def compose(self, address: str, message: Message) -> EmailMessage:
        """The mail of `message` to `address`, headers made one line each; PermanentFailure when
        it cannot be made (an address with a line break in it)."""
        mail = EmailMessage()
        domain = self.sender.split("@")[-1]
        try:
            mail["From"] = self.sender
            mail["To"] = address
            mail["Subject"] = one_line(message.subject)
            mail["Message-ID"] = f"<bridge-notification-{message.notification}@{domain}>"
            if message.incident is not None:
                mail["X-Bridge-Incident"] = str(message.incident)
            if message.kind in AUTO_REPLIES:  # RFC 3834: no auto-responder answers it back
                mail["Auto-Submitted"] = "auto-replied"
            mail.set_content(message.body.encode("utf-8", "replace").decode("utf-8"))
        except (email.errors.MessageError, ValueError) as exc:
            raise _unsendable(exc) from None
        return mail


def _unsendable(exc: Exception) -> PermanentFailure:
    return PermanentFailure(f"the message cannot be sent: {exc.__class__.__name__}: {exc}")


class TelegramChannel:
    """The Bot API's sendMessage. A page someone must act on (registration, escalation, breach)
    carries inline buttons: Acknowledge, Escalate, Resolve and, when bridge knows its own URL,
    Open in console. Returns the message id, so a reply to it or a press under it finds its
    incident."""

    name = "telegram"

    def __init__(
        self, token: str, base_url: str, http: requests.Session | None = None, console_url: str | None = None
    ) -> None:
        self.bot = TelegramBot(token, base_url, http)
        self.console_url = console_url.rstrip("/") if console_url else None

    def address(self, person: Person) -> str | None:
        return person.telegram

    def send(self, address: str, message: Message) -> str | None:
        text = f"{message.subject}\n\n{message.body}"
        rows = None
        if message.incident is not None and message.kind in ACTIONABLE:
            link = f"{self.console_url}/incidents/{message.incident}" if self.console_url else None
            status = IncidentStatus(message.incident_status or IncidentStatus.OPEN)
            rows = keyboard(message.incident, status, link)
        sent = self.bot.send_message(address, text, rows)
        return str(sent) if sent is not None else None


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
        hide = _hiding(address)
        try:
            response = self.http.post(address, json=payload, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RuntimeError(hide(f"{exc.__class__.__name__}: {exc}")) from None
        _check(response, hide)


def _hiding(url: str) -> Callable[[str], str]:
    """What replaces every trace of a secret `url` in a text by its origin: the URL itself, and
    its path, query and password as they were given or as requests quotes them (urllib3 names
    the path in its errors: "Max retries exceeded with url: /services/T0/B0/key")."""
    forms = {url}
    with contextlib.suppress(requests.RequestException, ValueError):
        forms.add(requests.Request("POST", url).prepare().url or url)
    fragments: set[str] = set()
    for form in forms:
        try:
            parts = urlsplit(form)
        except ValueError:
            continue
        fragments.update({form, parts.path, parts.query, parts.password or ""})
        if parts.query:
            fragments.add(f"{parts.path}?{parts.query}")
    secrets = sorted((f for f in fragments if len(f) > 1), key=len, reverse=True)
    origin = url_origin(url)

    def hide(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, origin if secret in forms else "***")
        return text

    return hide


def _check(response: requests.Response, hide: Callable[[str], str]) -> None:
    if response.status_code < 300:
        return
    text = hide(f"HTTP {response.status_code}: {response.text[:300]}")
    if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
        raise PermanentFailure(text)
    raise RuntimeError(text)


CHANNELS = (EmailChannel.name, TelegramChannel.name, WebhookChannel.name)
"""Every channel's name, whether the settings enable it or not."""


def channels_from(settings: Settings) -> list[Channel]:
    """The channels the settings enable; webhooks always (a person either has one or not)."""
    found: list[Channel] = []
    if settings.smtp_url:
        found.append(EmailChannel(settings.smtp_url, settings.smtp_from))
    if settings.telegram_token:
        found.append(
            TelegramChannel(settings.telegram_token, settings.telegram_api_url, console_url=settings.base_url)
        )
    found.append(WebhookChannel())
    return found

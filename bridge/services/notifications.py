"""Notifications: a message per person and channel, written as a row inside the transaction of the
change that wants it, rendered from Jinja templates, and sent later by a job with retries.

Rows are claimed with a lease (several workers never send one twice at once; one that died
mid-send leaves the row to be claimed again after the lease), sent without holding a transaction,
then marked sent, rescheduled with backoff, or parked as failed after `MAX_ATTEMPTS`. A failing
channel never blocks the pipeline or the other channels. Every send and every final failure is a
timeline entry of the incident.

Templates: ``<kind>.txt`` whose first line is the subject; files in the templates directory
setting override the built-in ones in ``bridge/ticketing/templates/notifications``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

import requests
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Notification, NotificationStatus, TimelineEntry
from bridge.db.queries import claim_due, paged
from bridge.errors import PermanentFailure
from bridge.services.outbox import backoff
from bridge.settings import Settings
from bridge.ticketing.rota import Person

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""After this many failed attempts a notification is parked as failed (visible in /api/notifications)."""
LEASE = timedelta(minutes=2)
TIMEOUT = 10.0
BUILTIN_TEMPLATES = Path(__file__).parents[1] / "ticketing" / "templates" / "notifications"


class Kind:
    """What a message is about (and the name of its template)."""

    REGISTRATION = "registration"
    ESCALATION = "escalation"
    BREACH = "breach"
    RETURNED = "returned"
    ASSIGNED = "assigned"
    STALE = "stale"
    LONG_OPEN = "long_open"


# -- channels ---------------------------------------------------------------------------------


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


def _check(response: requests.Response, hide: Any) -> None:
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


# -- writing (inside the change's transaction) ------------------------------------------------


class Templates:
    def __init__(self, directory: Path | None = None) -> None:
        loaders = [FileSystemLoader(str(directory))] if directory else []
        self.env = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(str(BUILTIN_TEMPLATES))]),
            autoescape=False,  # plain text: e-mail bodies, Telegram messages, JSON fields  # noqa: S701
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def render(self, kind: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """(subject, body) of the template of `kind`: its first line, then the rest."""
        text = self.env.get_template(f"{kind}.txt").render(**context)
        subject, _, body = text.partition("\n")
        return subject.strip(), body.strip() + "\n"


class Notifier:
    """Writes notification rows (`queue`) and sends the due ones (`run_due`)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        channels: Sequence[Channel],
        templates: Templates,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.channels = {channel.name: channel for channel in channels}
        self.templates = templates

    def queue(
        self,
        session: Session,
        person: Person,
        kind: str,
        context: Mapping[str, Any],
        now: datetime,
        incident: int | None,
    ) -> list[str]:
        """Add one row per channel that reaches `person`; returns the channels used (none: unreachable)."""
        subject, body = self.templates.render(kind, {**context, "person": person.name})
        used = []
        for channel in self.channels.values():
            address = channel.address(person)
            if not address:
                continue
            session.add(
                Notification(
                    incident_number=incident,
                    person=person.handle,
                    channel=channel.name,
                    address=address,
                    kind=kind,
                    subject=subject,
                    body=body,
                    status=NotificationStatus.PENDING.value,
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            used.append(channel.name)
        return used

    # -- sending (a job, outside any request) ----------------------------------------------------

    def run_due(self, limit: int = 50) -> int:
        """Send the notifications that are due; returns how many were tried."""
        claimed = self._claim(limit)
        for row_id, channel, address, message in claimed:
            error: str | None = None
            permanent = False
            sender = self.channels.get(channel)
            if sender is None:
                error, permanent = f"channel {channel} is not configured any more", True
            else:
                try:
                    sender.send(address, message)
                except PermanentFailure as exc:
                    error, permanent = str(exc), True
                except Exception as exc:
                    error = f"{exc.__class__.__name__}: {exc}"
            try:
                self._settle(row_id, error, permanent)
            except Exception:  # the database failing under us: the lease brings the row back later
                log.exception("notification %d could not be settled", row_id)
        return len(claimed)

    def _claim(self, limit: int) -> list[tuple[int, str, str, Message]]:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            return [
                (
                    row.id,
                    row.channel,
                    row.address,
                    Message(row.id, row.incident_number, row.person, row.kind, row.subject, row.body),
                )
                for row in claim_due(session, Notification, now, LEASE, limit)
            ]

    def _settle(self, row_id: int, error: str | None, permanent: bool) -> None:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            row = session.get(Notification, row_id, with_for_update=True)
            if row is None:
                return
            row.lease_until = None
            if error is None:
                row.status, row.sent_at, row.last_error = NotificationStatus.SENT.value, now, None
                self._log(
                    session,
                    row,
                    now,
                    "notified",
                    f"notified {row.person} by {row.channel} ({row.address}): {row.kind}",
                )
                return
            row.last_error = error[:2000]
            if permanent or row.attempts >= MAX_ATTEMPTS:
                row.status = NotificationStatus.FAILED.value
                log.error(
                    "notification %d (%s to %s) failed for good: %s", row.id, row.channel, row.person, error
                )
                self._log(
                    session,
                    row,
                    now,
                    "notification_failed",
                    f"could not notify {row.person} by {row.channel} after {row.attempts} attempts: {error}",
                )
            else:
                row.status = NotificationStatus.PENDING.value
                row.next_attempt_at = now + backoff(row.attempts)
                log.warning(
                    "notification %d (%s to %s) attempt %d failed, retrying at %s: %s",
                    row.id,
                    row.channel,
                    row.person,
                    row.attempts,
                    row.next_attempt_at.isoformat(),
                    error,
                )

    @staticmethod
    def _log(session: Session, row: Notification, now: datetime, kind: str, text: str) -> None:
        if row.incident_number is not None:
            session.add(
                TimelineEntry(
                    incident_number=row.incident_number, at=now, actor="bridge", kind=kind, text=text
                )
            )


def list_notifications(
    session: Session,
    statuses: Sequence[str],
    incident: int | None,
    limit: int,
    offset: int,
    channel: str | None = None,
) -> tuple[list[Notification], int]:
    """Notifications, newest first."""
    statement = select(Notification)
    if channel:
        statement = statement.where(Notification.channel == channel)
    if statuses:
        statement = statement.where(Notification.status.in_(statuses))
    if incident is not None:
        statement = statement.where(Notification.incident_number == incident)
    return paged(session, statement, [Notification.id.desc()], limit, offset)

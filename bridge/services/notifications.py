"""Notifications: a message per person and channel, written as a row inside the transaction of the
change that wants it, rendered from Jinja templates, and sent later on the leased loop of
`bridge.services.leased` (retried with backoff, parked as failed after `MAX_ATTEMPTS`). A failing
channel never blocks the pipeline or the other channels. Every send and every final failure is a
timeline entry of the incident.

Templates: ``<kind>.txt`` whose first line is the subject; files in the templates directory
setting override the built-in ones in ``bridge/ticketing/templates/notifications``. English lives at
the top of the directory, every other language in a subdirectory of its code (``ru/<kind>.txt``),
in the built-in set and in an operator's directory alike. A message is written in the language of
its recipient: the ``locale`` of the bridge user whose handle is the person's handle, else the
``BRIDGE_LOCALE`` setting.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, sessionmaker

import bridge.ticketing
from bridge.clock import Clock
from bridge.db import per_transaction
from bridge.db.models import Incident, Notification, NotificationStatus, User
from bridge.db.queries import Page, Paging, paged
from bridge.db.timeline import add_entry
from bridge.errors import PermanentFailure
from bridge.integrations.channels import (
    Channel,
    EmailChannel,
    Message,
    TelegramChannel,
    one_line,
    shown_address,
)
from bridge.services.leased import Failed, LeasedWork
from bridge.services.mail_links import ACTIONABLE, ActionLinks, MailLinks
from bridge.ticketing.roles import LOCALES
from bridge.ticketing.rota import Person

MAX_ATTEMPTS = 8
"""After this many failed attempts a notification is parked as failed (visible in /api/notifications)."""
LEASE = timedelta(minutes=2)
BUILTIN_TEMPLATES = Path(bridge.ticketing.__file__).parent / "templates" / "notifications"


ENGLISH = "en"
TELEGRAM = TelegramChannel.name


class Templates:
    """The notification templates of every shipped language; `default` is the language of a
    message whose recipient has none (or one bridge has no templates for)."""

    def __init__(self, directory: Path | None = None, default: str = ENGLISH) -> None:
        self.default = default if default in LOCALES else ENGLISH
        loaders = [FileSystemLoader(str(directory))] if directory else []
        self.env = Environment(
            loader=ChoiceLoader([*loaders, FileSystemLoader(str(BUILTIN_TEMPLATES))]),
            autoescape=False,  # plain text: e-mail bodies, Telegram messages, JSON fields  # noqa: S701
            undefined=StrictUndefined,
            keep_trailing_newline=False,
        )

    def language(self, locale: str | None) -> str:
        """The language a message to someone of `locale` is written in."""
        return locale if locale in LOCALES else self.default

    def render(self, kind: str, context: Mapping[str, Any], locale: str | None = None) -> tuple[str, str]:
        """(subject, body) of the template of `kind` in `locale` (None: the default language): its
        first line (made one line for good: no CR, VT, U+2028 ... of an alert's name in it), then
        the rest."""
        language = self.language(locale)
        name = f"{kind}.txt" if language == ENGLISH else f"{language}/{kind}.txt"
        text = self.env.get_template(name).render(**context)
        subject, _, body = text.partition("\n")
        return one_line(subject), body.strip() + "\n"  # an alert's name may hold CR, VT, U+2028...


def locale_of(session: Session, handle: str) -> str | None:
    """The locale of the bridge user `handle` (a rota person signs in under their handle); None
    for someone with no user (a client who wrote by mail, a report's outside recipient). Asked
    once per transaction that `remember_locales` (the worker's, paging the same few people for
    hundreds of incidents), else every time."""
    known: dict[str, str | None] | None = session.info.get(_LOCALES)
    if known is not None and handle in known:
        return known[handle]
    locale = session.scalar(select(User.locale).where(User.handle == handle))
    if known is not None:
        known[handle] = locale
    return locale


_LOCALES = per_transaction.key("bridge.locales")
_LINKED = per_transaction.key("bridge.linked_telegram")


def remember_locales(session: Session) -> None:
    """Until this transaction ends, what the users table says of a person (`locale_of`, the
    Telegram account they linked) is asked once per person, not once per message: for a
    transaction that changes no user (the worker's, paging the same few people for hundreds of
    incidents)."""
    session.info.setdefault(_LOCALES, {})
    session.info.setdefault(_LINKED, {})


@dataclass(frozen=True, slots=True)
class Sent:
    """A message gone out: by which channel, and what the channel called it (a Telegram message id)."""

    channel: str
    ref: str | None


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    channel: str
    address: str
    message: Message


class Notifier(
    LeasedWork[Notification, ClaimedMessage, Sent], model=Notification, lease=LEASE, max_attempts=MAX_ATTEMPTS
):
    """Writes notification rows (`queue`, inside a change's transaction) and sends the due ones
    (`run_due`, a job outside any request)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        channels: Sequence[Channel],
        templates: Templates,
        links: MailLinks | None = None,
        on_attempt: Callable[[str, bool], None] | None = None,
    ) -> None:
        """`on_attempt(channel, sent)` hears of every attempt to send (the metrics)."""
        super().__init__(sessions, clock)
        self.channels = {channel.name: channel for channel in channels}
        self.templates = templates
        self.links = links
        self.on_attempt = on_attempt

    def queue(
        self,
        session: Session,
        person: Person,
        kind: str,
        context: Mapping[str, Any],
        now: datetime,
        incident: int | None,
    ) -> list[str]:
        """Add one row per channel that reaches `person`, in their language; returns the channels
        used (none: unreachable). Rendered only for someone reachable: a rota whose people have
        no channel configured costs nothing per incident."""
        rendered: tuple[str, str] | None = None
        used = []
        for channel in self.channels.values():
            address = channel.address(person) or self._linked_address(session, channel.name, person.handle)
            if not address:
                continue
            if rendered is None:
                rendered = self.render(session, person.handle, kind, {**context, "person": person.name})
            text = rendered
            actions = self._mail_links(session, channel.name, person, kind, incident, now)
            if actions is not None:  # this mail's own Acknowledge/Escalate links
                text = self.render(
                    session, person.handle, kind, {**context, "person": person.name, "actions": actions}
                )
            session.add(
                Notification(
                    incident_number=incident,
                    person=person.handle,
                    channel=channel.name,
                    address=address,
                    kind=kind,
                    subject=text[0],
                    body=text[1],
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            used.append(channel.name)
        return used

    def _linked_address(self, session: Session, channel: str, handle: str) -> str | None:
        """A person with no `telegram:` chat in the rota is reached in the private chat of the
        Telegram account they linked (a private chat's id is the account's id)."""
        if channel != TELEGRAM:
            return None
        known: dict[str, str | None] | None = session.info.get(_LINKED)
        if known is not None and handle in known:
            return known[handle]
        linked = session.scalar(
            select(User.telegram_id).where(User.handle == handle, User.disabled_at.is_(None))
        )
        address = str(linked) if linked is not None else None
        if known is not None:
            known[handle] = address
        return address

    def _mail_links(
        self, session: Session, channel: str, person: Person, kind: str, incident: int | None, now: datetime
    ) -> ActionLinks | None:
        """The signed links a mail of `kind` to `person` carries (issued now), or None: another
        channel, a message that asks for no action, or links not configured."""
        if self.links is None or channel != EmailChannel.name or incident is None or kind not in ACTIONABLE:
            return None
        return self.links.issue(session, person.handle, incident, now)

    def render(self, session: Session, handle: str, kind: str, context: Mapping[str, Any]) -> tuple[str, str]:
        """(subject, body) of a `kind` message to the person `handle`, in their language."""
        return self.templates.render(kind, context, locale_of(session, handle))

    def list(
        self, statuses: Sequence[str], incident: int | None, paging: Paging, channels: Sequence[str] = ()
    ) -> Page[Notification]:
        """Notifications, newest first."""
        statement = select(Notification)
        if channels:
            statement = statement.where(Notification.channel.in_(channels))
        if statuses:
            statement = statement.where(Notification.status.in_(statuses))
        if incident is not None:
            statement = statement.where(Notification.incident_number == incident)
        with self.sessions() as session:
            return paged(session, statement, [Notification.id.desc()], paging)

    # -- the leased loop ------------------------------------------------------------------------

    def run_due(self, limit: int = 50) -> int:
        """Send the notifications that are due; returns how many were tried."""
        return super().run_due(limit)

    def claimed(self, row: Notification) -> ClaimedMessage:
        status = None
        session = object_session(row)
        if row.incident_number is not None and row.channel == TELEGRAM and session is not None:
            # Its buttons are the ones that make sense now (a breach of an acknowledged incident
            # offers no Acknowledge).
            status = session.scalar(select(Incident.status).where(Incident.number == row.incident_number))
        message = Message(row.id, row.incident_number, row.person, row.kind, row.subject, row.body, status)
        return ClaimedMessage(row.channel, row.address, message)

    def run(self, work: ClaimedMessage) -> Sent:
        sender = self.channels.get(work.channel)
        if sender is None:
            raise PermanentFailure(f"channel {work.channel} is not configured any more")
        return Sent(work.channel, sender.send(work.address, work.message))

    def tried(self, work: ClaimedMessage, failed: Failed | None) -> None:
        if self.on_attempt is not None:
            self.on_attempt(work.channel, failed is None)

    def succeeded(self, session: Session, row: Notification, done: Sent, now: datetime) -> None:
        row.status, row.sent_at = NotificationStatus.SENT, now
        row.external_ref = done.ref
        if row.incident_number is not None:
            shown = shown_address(row.channel, row.address)  # a webhook URL is a secret
            text = f"notified {row.person} by {row.channel} ({shown}): {row.kind}"
            add_entry(session, row.incident_number, now, "notified", text)

    def gave_up(self, session: Session, row: Notification, error: str, now: datetime) -> None:
        if row.incident_number is not None:
            text = f"could not notify {row.person} by {row.channel} after {row.attempts} attempts: {error}"
            add_entry(session, row.incident_number, now, "notification_failed", text)

    def label(self, row: Notification) -> str:
        return f"notification {row.id} ({row.channel} to {row.person})"

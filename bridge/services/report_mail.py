"""The weekly and monthly SLA report by e-mail, as rota.yaml's `reports.sla_mail` asks: the head of
IT (and any person named) gets every client's figures, each client's `contact:` its own.

A periodic job (`run`, one worker at a time: `bridge.services.periodic`) looks, every few minutes,
for the latest period of each kind whose mail is due (`last_period`: a week Monday to Monday, a
calendar month, in the rota's time zone; due at `at` local time the day after). In ONE transaction
it records the period in a ledger and writes one notification row per recipient; the notifier then
sends them over the e-mail channel with its retries. The ledger is a row of the timers table of
kind `LEDGER` (no handler fires it) whose unique (kind, subject) key is the period: a second worker,
a restart or a re-run finds the period taken and sends nothing, so no period is ever sent twice.

The first run records when the mail was switched on (subject `sla:since`): only periods that end
after it are sent, so turning the mail on (or a fresh install) does not mail last month's report
at once; the next period that ends is the first one sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Notification, Timer
from bridge.services.live import LiveRota
from bridge.services.notifications import Notifier
from bridge.services.reports import SlaRow, sla_report
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.report_settings import Period, Recipients, SlaMail, last_period
from bridge.ticketing.rota import Role, Rota
from bridge.timeutil import format_duration

log = logging.getLogger(__name__)

LEDGER = "report_mail"
"""The timers-table kind of the ledger rows: one per period sent, and the `sla:since` mark."""
SINCE = "sla:since"
EMAIL = "email"
EVERY = timedelta(minutes=5)
"""How often the periodic job looks for a due period."""


@dataclass(frozen=True, slots=True)
class Recipient:
    person: str  # a rota handle, or "client:<name>" for a client's contact
    name: str
    address: str
    client: str | None  # None: the report of every client


@dataclass(frozen=True, slots=True)
class QueuedReport:
    """A period whose mail was queued now, and to whom."""

    period: Period
    recipients: tuple[Recipient, ...]


def recipients_of(rota: Rota, mail: SlaMail) -> list[Recipient]:
    """Who gets the SLA report, each with the client whose figures they get (None: all); a person
    without an e-mail address is left out (and logged)."""
    found: dict[tuple[str, str | None], Recipient] = {}
    people = []
    if Recipients.HEAD_OF_IT in mail.to:
        people += rota.with_role(Role.HEAD_OF_IT)
    people += [p for handle in mail.people if (p := rota.person(handle)) is not None]
    for person in people:
        if not person.email:
            log.warning("the SLA report cannot reach %s: no e-mail address in the rota", person.handle)
            continue
        found.setdefault((person.email, None), Recipient(person.handle, person.name, person.email, None))
    if Recipients.CLIENTS in mail.to:
        for client in rota.clients.values():
            if client.contact is not None:
                contact = client.contact
                key = (contact.email, client.name)
                found.setdefault(
                    key, Recipient(f"client:{client.name}", contact.name, contact.email, client.name)
                )
    return list(found.values())


class SlaMailer:
    def __init__(
        self, sessions: sessionmaker[Session], clock: Clock, rota: LiveRota, notifier: Notifier
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.live = rota
        self.notifier = notifier

    def run(self) -> list[QueuedReport]:
        """Queue the mails of every period now due and not sent yet; the periodic job."""
        rota = self.live.rota
        mail = rota.reports.sla_mail
        if mail is None:
            return []
        if EMAIL not in self.notifier.channels:
            log.warning(
                "rota.yaml asks for the SLA report by e-mail, but no mail server is set (BRIDGE_SMTP_URL)"
            )
            return []
        now = self.clock.now()
        since = self._since(now)
        queued = []
        for kind in mail.periods:
            period = last_period(kind, now, rota.tz, mail.send_at)
            if period.end <= since:
                continue  # it ended before the mail was switched on
            done = self._queue(period, rota, mail, now)
            if done is not None:
                queued.append(done)
        return queued

    def _since(self, now: datetime) -> datetime:
        """When the mail was first switched on (recorded now if this is the first run)."""
        with self.sessions() as session, session.begin():
            _insert_once(session, SINCE, now)
            found = session.scalar(select(Timer.due_at).where(Timer.kind == LEDGER, Timer.subject == SINCE))
        return found or now

    def _queue(self, period: Period, rota: Rota, mail: SlaMail, now: datetime) -> QueuedReport | None:
        with self.sessions() as session, session.begin():
            if not _insert_once(session, f"sla:{period.key}", period.end):
                return None  # sent already (by this worker before a restart, or by another)
            recipients = recipients_of(rota, mail)
            for recipient in recipients:
                rows = sla_report(session, rota, period.start, period.end, recipient.client)
                subject, body = self.notifier.render(
                    session, recipient.person, MessageKind.SLA_REPORT, _context(rota, period, recipient, rows)
                )
                session.add(
                    Notification(
                        incident_number=None,
                        person=recipient.person,
                        channel=EMAIL,
                        address=recipient.address,
                        kind=MessageKind.SLA_REPORT,
                        subject=subject,
                        body=body,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
        log.info("SLA report of %s queued for %d recipients", period, len(recipients))
        return QueuedReport(period, tuple(recipients))


def _insert_once(session: Session, subject: str, due: datetime) -> bool:
    """Insert the ledger row `subject`; False when it is there already (nothing is changed)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Timer)
        .values(kind=LEDGER, subject=subject, due_at=due)
        .on_conflict_do_nothing(index_elements=[Timer.kind, Timer.subject])
        .returning(Timer.id)
    )
    return session.execute(statement).first() is not None


def _context(rota: Rota, period: Period, recipient: Recipient, rows: list[SlaRow]) -> dict[str, Any]:
    def shown(seconds: float | None) -> str:
        return "-" if seconds is None else format_duration(timedelta(seconds=round(seconds)))

    local = "%Y-%m-%d %H:%M"
    return {
        "person": recipient.name,
        "client": recipient.client,
        "period": str(period),
        "start": period.start.astimezone(rota.tz).strftime(local),
        "end": period.end.astimezone(rota.tz).strftime(local),
        "timezone": str(rota.tz),
        "rows": [
            {
                "client": r.client,
                "priority": r.priority.value,
                "count": r.count,
                "acknowledged": r.acknowledged,
                "resolved": r.resolved,
                "ack_median": shown(r.ack_median),
                "ack_p90": shown(r.ack_p90),
                "resolve_median": shown(r.resolve_median),
                "resolve_p90": shown(r.resolve_p90),
                "ack_breaches": r.ack_breaches,
                "resolve_breaches": r.resolve_breaches,
            }
            for r in rows
        ],
        "breaches": [
            {
                "number": b.number,
                "target": b.target,
                "due": b.due_at.astimezone(rota.tz).strftime(local),
                "title": b.title,
            }
            for r in rows
            for b in r.breaches
        ],
    }

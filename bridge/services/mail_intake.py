"""Requests by mail: the desk's mailbox polled, each mail registered once, and the client answered.

One poll (a periodic job: one worker at a time, once per BRIDGE_IMAP_POLL) does, for each mail in
the folder bridge reads, oldest first:

1. fetch it (only its headers when it is larger than BRIDGE_MAIL_MAX_BYTES) and decide whether
   it can be taken (`classify`: a sender to answer, not automatic mail, not bridge's own, a
   sender the desk knows or the unknown-sender policy);
2. commit it to the mail log keyed by its Message-ID, as pending or refused (with the reason);
3. move it to the processed folder, or put it in the refused folder with an ``X-Bridge-Refused``
   header saying why (a mail too large to read is moved there as it is);
4. register a pending one in one transaction: a reply in an incident's thread (In-Reply-To or
   References naming a mail of it, or ``[#42]`` in the subject, from its reporter or another
   contact of its client) becomes a comment, or confirms or rejects a resolution; a mail in an
   incident's thread from the desk's own staff (a rota person's address, believed as a client's
   is) becomes that person's comment "via e-mail" when their role lets them comment on it, and is
   refused with the reason otherwise; any other mail opens an incident with the same ownership,
   SLA clocks and escalation as one opened by hand, and the auto-reply with its number is queued
   with it.

A worker killed anywhere in there loses and doubles nothing: before step 2 the mail is still in
the folder and is fetched again; after it, the same Message-ID stores nothing, and a pending row is
registered by the next poll (step 4 first thing); step 4 is one transaction that marks the row done.

Resolving an incident opened by mail mails its reporter asking to confirm or reject (`MailHooks`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db import mail as mail_log
from bridge.db.models import AlertRow, Incident, MailAttachment, MailMessage, MailStatus
from bridge.db.timeline import add_entry
from bridge.errors import MailRefused
from bridge.integrations.imap import Mailbox, MailboxAddress
from bridge.priority import Priority
from bridge.services.handoff import Handoff
from bridge.services.hooks import IncidentChange, IncidentHooks
from bridge.services.incidents import NewIncident, act_on, open_incident
from bridge.services.live import LiveRota
from bridge.services.mail_links import VIA, acting_person, may_act_on
from bridge.services.notifications import Notifier
from bridge.settings import Settings
from bridge.sources.mail import (
    PRIORITY_TAG,
    Limits,
    MailRequest,
    clean,
    is_request,
    message_key,
    parse_mail,
    reply_text,
    subject_of,
    verdict,
)
from bridge.ticketing.contacts import Contact
from bridge.ticketing.lifecycle import IncidentAction, IncidentStatus, IncidentType
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.roles import Action
from bridge.ticketing.rota import Person, Role
from bridge.timeutil import format_duration

log = logging.getLogger(__name__)

BATCH = 100
"""Mails taken from the folder in one poll; the rest wait for the next."""
MAX_ATTEMPTS = 3
"""Registering a stored mail fails this often: it is parked as failed (the reason kept)."""
SOURCE = "mail"
"""The `source` of an incident opened by mail."""
UNKNOWN = "unknown sender"
ACTION_LINK = re.compile(r"\S*/mail-link/[A-Za-z0-9_.\-]+")
"""A signed Acknowledge/Escalate link of a notification mail (bridge.services.mail_links)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a fetched mail is: to register (`request`), or refused with `reason` (and, for an
    unknown but authenticated sender under the `reply` policy, `answer` them)."""

    request: MailRequest | None
    reason: str | None = None
    answer: bool = False


@dataclass(frozen=True, slots=True)
class Polled:
    fetched: int = 0
    refused: int = 0
    registered: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (
            f"{self.fetched} mails fetched, {self.registered} registered, {self.refused} refused, "
            f"{self.failed} failed"
        )


class MailIntake:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Clock,
        rota: LiveRota,
        notifier: Notifier,
        hooks: Callable[[], IncidentHooks],
        handoff: Handoff,
    ) -> None:
        assert settings.imap_url is not None
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.rota = rota
        self.notifier = notifier
        self.hooks = hooks
        self.handoff = handoff
        self.address = MailboxAddress.from_url(settings.imap_url)
        self.limits = Limits(attachment_bytes=settings.mail_attachment_max_bytes)
        self.base_url = (settings.base_url or "").rstrip("/")

    # -- the poll -------------------------------------------------------------------------------

    def poll(self) -> Polled:
        """Register what a previous poll left pending, then take the folder's mail."""
        registered = failed = fetched = refused = 0
        for row_id in self._pending():
            ok = self.register(row_id)
            registered, failed = registered + ok, failed + (not ok)
        budget = time.monotonic() + max(self.settings.imap_poll.total_seconds() / 2, 5.0)
        settings = self.settings
        with Mailbox(self.address) as box:
            box.ensure(settings.imap_processed_folder)
            box.ensure(settings.imap_refused_folder)
            box.select(settings.imap_folder)
            for uid in box.uids(BATCH):
                if time.monotonic() > budget:  # the next worker's turn comes; leave it the rest
                    break
                taken = self._take(box, uid)
                if taken is None:
                    continue
                fetched += 1
                row_id, status = taken
                if status is MailStatus.REFUSED:
                    refused += 1
                elif status is MailStatus.PENDING:
                    ok = self.register(row_id)
                    registered, failed = registered + ok, failed + (not ok)
        if registered:
            self.handoff.work()  # the auto-replies and pages go out now
        return Polled(fetched, refused, registered, failed)

    def _pending(self) -> list[int]:
        with self.sessions() as session:
            return mail_log.pending_ids(session, BATCH)

    def _take(self, box: Mailbox, uid: str) -> tuple[int, MailStatus] | None:
        """Fetch, store and file one mail; its row and status (None: it vanished meanwhile)."""
        size = box.size(uid)
        if size is None:
            return None
        too_large = size > self.settings.mail_max_bytes
        raw = box.fetch(uid, headers_only=too_large)
        if raw is None:
            return None
        if too_large:
            verdict_ = Verdict(
                None, f"too large: {size} bytes, at most {self.settings.mail_max_bytes} are read"
            )
        else:
            verdict_ = self.classify(raw)
        key = message_key(raw)
        stored, again = self._store(key, raw, verdict_)
        row_id, status = stored
        folder = (
            self.settings.imap_refused_folder
            if status is MailStatus.REFUSED
            else self.settings.imap_processed_folder
        )
        if again and not key.startswith("sha256:") and box.holds(folder, key):
            box.delete(uid)  # filed before, and the worker stopped before it left this folder
        elif status is MailStatus.REFUSED and not too_large:
            reason = self._reason(row_id) or "refused"
            header = f"X-Bridge-Refused: {clean(reason, 400, one_line=True)}\r\n".encode("ascii", "replace")
            box.append(self.settings.imap_refused_folder, header + raw)
            box.delete(uid)
        else:  # a mail too large to copy is moved as it is: its reason is in the mail log only
            box.move(uid, folder)
        return stored

    def classify(self, raw: bytes) -> Verdict:
        """Whether a mail is to be registered, and if not, why."""
        try:
            request = parse_mail(raw, self.settings.mail_authserv_id, self.limits)
        except MailRefused as exc:
            return Verdict(None, exc.reason)
        own = self.settings.smtp_from.lower()
        if request.sender == own or mail_log.is_own_message_id(request.message_id):
            return Verdict(None, "bridge's own mail")
        if request.automatic is not None:
            return Verdict(None, request.automatic)
        staff = self._staff(request)
        if staff is not None:
            with self.sessions() as session:
                number = self._staff_thread(session, request)
                refusal = self._staff_refusal(session, staff, number) if number is not None else None
            if refusal is not None:
                return Verdict(None, refusal)
            if number is not None:
                return Verdict(request)
        if self._contact(request) is not None or self.settings.mail_unknown_sender == "register":
            return Verdict(request)
        if not self._trusted(request):
            return Verdict(None, f"{UNKNOWN}, and the From address is not verified: not answered")
        return Verdict(request, f"{UNKNOWN}: the address is not registered with any client", answer=True)

    def _trusted(self, request: MailRequest) -> bool:
        return self.settings.mail_trust_from or request.authenticated

    def _staff(self, request: MailRequest) -> Person | None:
        """The rota person (the desk's own staff) whose address wrote, when the From is believed."""
        if not self._trusted(request):
            return None
        return next(
            (p for p in self.rota.rota.people.values() if p.email and p.email.lower() == request.sender),
            None,
        )

    def _staff_thread(self, session: Session, request: MailRequest) -> int | None:
        """The incident a staff mail answers: one of its references (bridge's notifications, the
        client's mails), else ``[#N]`` in its subject."""
        numbers = mail_log.thread_incidents(session, request.references)
        if request.ticket is not None:
            numbers.append(request.ticket)
        for number in numbers:
            if session.get(Incident, number) is not None:
                return number
        return None

    def _staff_refusal(self, session: Session, staff: Person, number: int) -> str | None:
        """Why `staff` may not comment on incident `number` by mail, or None when they may."""
        acting = acting_person(session, self.rota.rota, staff.handle)
        if acting is None:
            return f"{staff.handle} may not act any more (disabled): reply to #{number} not taken"
        if not may_act_on(session, acting, Action.COMMENT, number):
            return f"{staff.handle} ({acting.role.value}) may not comment on #{number}"
        return None

    def _contact(self, request: MailRequest) -> Contact | None:
        if not self._trusted(request):
            return None
        return self.rota.rota.contacts.find(request.sender)

    def _store(self, key: str, raw: bytes, found: Verdict) -> tuple[tuple[int, MailStatus], bool]:
        """The mail's row and status, and whether it was stored before."""
        now = self.clock.now()
        request = found.request
        status = MailStatus.REFUSED if found.reason else MailStatus.PENDING
        sender = request.sender if request else None
        subject = request.subject if request else subject_of(raw)
        with self.sessions() as session, session.begin():
            row_id = mail_log.store_message(session, key, now, raw, sender, subject, status, found.reason)
            if row_id is None:  # fetched before (a crash between storing and filing it)
                existing = mail_log.status_of(session, key)
                assert existing is not None
                return existing, True
            if found.answer and request is not None:
                self._queue(
                    session, request, MessageKind.MAIL_UNKNOWN, {"address": request.sender}, None, now
                )
        if found.reason:
            log.info("mail %s refused: %s", row_id, found.reason)
        return (row_id, status), False

    def _reason(self, row_id: int) -> str | None:
        with self.sessions() as session:
            return session.scalar(select(MailMessage.reason).where(MailMessage.id == row_id))

    # -- registering ----------------------------------------------------------------------------

    def register(self, row_id: int) -> bool:
        """Register one stored mail in one transaction; False when it failed (retried by later
        polls, parked after MAX_ATTEMPTS)."""
        try:
            with self.sessions() as session, session.begin():
                row = session.get(MailMessage, row_id, with_for_update=True)
                if row is None or row.status is not MailStatus.PENDING:
                    return True
                request = parse_mail(row.raw, self.settings.mail_authserv_id, self.limits)
                outcome, number = self._register(session, row, request, self.clock.now())
                row.status, row.outcome, row.incident_number = MailStatus.DONE, outcome, number
                row.processed_at, row.reason = self.clock.now(), None
            return True
        except Exception as exc:  # one bad mail never stops the poll; its row says what went wrong
            log.exception("mail %d could not be registered", row_id)
            self._failed(row_id, f"{exc.__class__.__name__}: {exc}")
            return False

    def _failed(self, row_id: int, error: str) -> None:
        try:
            with self.sessions() as session, session.begin():
                row = session.get(MailMessage, row_id, with_for_update=True)
                if row is None:
                    return
                row.attempts += 1
                row.reason = error[:2000]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status, row.processed_at = MailStatus.FAILED, self.clock.now()
        except Exception:
            log.exception("mail %d: its failure could not be recorded", row_id)

    def _register(
        self, session: Session, row: MailMessage, request: MailRequest, now: datetime
    ) -> tuple[str, int]:
        staff = self._staff(request)
        if staff is not None:
            number = self._staff_thread(session, request)
            if number is not None and self._staff_refusal(session, staff, number) is None:
                return self._staff_comment(session, row, request, staff, number, now)
        contact = self._contact(request)
        actor = request.sender
        incident = self._thread(session, request, contact)
        if incident is None or incident.status in (IncidentStatus.CLOSED, IncidentStatus.CANCELLED):
            # A mail about an incident already closed is a new request that says which it follows.
            follows = incident.number if incident is not None else None
            opened = self._open(session, row, request, contact, now, follows)
            if follows is not None:
                add_entry(
                    session,
                    follows,
                    now,
                    "follow_up",
                    f"a mail about it opened #{opened.number}",
                    actor=actor,
                )
            return "opened", opened.number
        number = incident.number
        said = reply_text(request.text) or request.text
        answer = verdict(said) if incident.status is IncidentStatus.RESOLVED else None
        if answer == "confirm":
            act_on(session, number, IncidentAction.CLOSE, actor, now, self.hooks(), "confirmed by mail")
        elif answer == "reject":
            act_on(session, number, IncidentAction.REJECT, actor, now, self.hooks(), said[:4000])
        else:
            comment = said or f"(a mail without text: {request.subject or 'no subject'})"
            act_on(session, number, IncidentAction.COMMENT, actor, now, self.hooks(), comment)
        self._attachments(session, row, request, number, now, actor)
        return answer or "comment", number

    def _staff_comment(
        self,
        session: Session,
        row: MailMessage,
        request: MailRequest,
        staff: Person,
        number: int,
        now: datetime,
    ) -> tuple[str, int]:
        """A staff reply in an incident's thread: a comment by that person, via e-mail. Signed
        action links quoted from bridge's mail are cut out: on the timeline they would let anyone
        who reads it act as that person."""
        said = ACTION_LINK.sub("[link removed]", reply_text(request.text) or request.text).strip()
        text = said or f"(a mail without text: {request.subject or 'no subject'})"
        act_on(session, number, IncidentAction.COMMENT, staff.handle, now, self.hooks(), text, via=VIA)
        self._attachments(session, row, request, number, now, staff.handle)
        return "comment", number

    def _thread(self, session: Session, request: MailRequest, contact: Contact | None) -> Incident | None:
        """The incident a reply belongs to: by its references, else by ``[#N]`` in the subject;
        only one the sender may write to (its reporter, or a contact of its client)."""
        numbers = mail_log.thread_incidents(session, request.references)
        if request.ticket is not None:
            numbers.append(request.ticket)
        for number in numbers:
            incident = session.get(Incident, number)
            if incident is None:
                continue
            reporter = (incident.reporter or "").lower() == request.sender
            same_client = (
                contact is not None and incident.client is not None and contact.client == incident.client
            )
            if reporter or same_client:
                return incident
        return None

    def _open(
        self,
        session: Session,
        row: MailMessage,
        request: MailRequest,
        contact: Contact | None,
        now: datetime,
        follows: int | None = None,
    ) -> Incident:
        kind = (
            IncidentType.SERVICE_REQUEST
            if is_request(request.subject, request.text, self.settings.mail_request_words)
            else IncidentType.INCIDENT
        )
        priority = request.priority or (contact.priority if contact else None) or Priority.P3
        description = request.text
        if contact is None:
            verified = "verified" if request.authenticated else "not verified"
            description = f"[{UNKNOWN}: {request.sender}, {verified}]\n\n{description}"
        if follows is not None:
            description = f"[follow-up of #{follows}, closed]\n\n{description}"
        new = NewIncident(
            title=PRIORITY_TAG.sub("", request.subject).strip() or "(no subject)",
            priority=priority,
            type=kind,
            client=contact.client if contact else None,
            description=description,
            reporter=request.sender,
            line="L1",
        )
        incident = open_incident(session, new, request.sender, now, self.hooks())
        incident.source = SOURCE
        session.flush()
        listed = self._attachments(session, row, request, incident.number, now, request.sender)
        if listed:
            incident.description = f"{incident.description}\n\nAttachments: {listed}".strip()
        context = {
            "number": incident.number,
            "title": incident.title,
            "priority": incident.priority.value,
            "type": incident.type.value.replace("_", " "),
            "resolve_due": self._when(incident.resolve_due_at),
            "assignee": self.rota.rota.display(incident.assignee) if incident.assignee else None,
            "attachments": listed,
            "link": self._link(incident.number),
        }
        self._queue(session, request, MessageKind.MAIL_RECEIVED, context, incident.number, now)
        return incident

    def _attachments(
        self, session: Session, row: MailMessage, request: MailRequest, number: int, now: datetime, actor: str
    ) -> str:
        """Keep the mail's attachments with incident `number`, list them on its timeline; the list."""
        shown: list[str] = []
        directory = self.settings.mail_attachments_dir
        for attachment in request.attachments:
            data: bytes | None = attachment.data
            path = None
            if directory is not None:
                path = _keep_file(directory, attachment.data)
                data = None
            session.add(
                MailAttachment(
                    incident_number=number,
                    message_id=row.id,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    size=attachment.size,
                    data=data,
                    path=path,
                    created_at=now,
                )
            )
            shown.append(f"{attachment.filename} ({attachment.content_type}, {attachment.size} bytes)")
        shown.extend(
            f"{left} left out: larger than {self.limits.attachment_bytes} bytes" for left in request.too_large
        )
        listed = "; ".join(shown)
        if listed:
            add_entry(session, number, now, "attachments", f"attachments by mail: {listed}", actor=actor)
        return listed

    # -- answers --------------------------------------------------------------------------------

    def _queue(
        self,
        session: Session,
        request: MailRequest,
        kind: MessageKind,
        context: dict[str, object],
        incident: int | None,
        now: datetime,
    ) -> None:
        person = correspondent(request.sender, request.sender_name)
        context = {"title": request.subject or "(no subject)", **context}
        used = self.notifier.queue(session, person, kind, context, now, incident)
        if not used:
            log.warning("no mail channel to answer %s (BRIDGE_SMTP_URL)", request.sender)

    def _when(self, at: datetime | None) -> str | None:
        if at is None:
            return None
        local = at.astimezone(self.rota.rota.tz)
        left = at - self.clock.now()
        return f"{local:%Y-%m-%d %H:%M %Z} (in {format_duration(max(left, timedelta(0)))})"

    def _link(self, number: int) -> str:
        return f"{self.base_url}/incidents/{number}"


class MailHooks:
    """An `IncidentHooks`: resolving an incident opened by mail asks its reporter to confirm."""

    def __init__(self, notifier: Notifier, base_url: str | None) -> None:
        self.notifier = notifier
        self.base_url = (base_url or "").rstrip("/")

    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        return None

    def alert_attached(
        self, session: Session, incident: Incident, alert: AlertRow, now: datetime, late: bool
    ) -> None:
        return None  # a reporter hears of their request, not of each monitoring alert

    def incident_changed(self, session: Session, change: IncidentChange) -> None:
        incident = change.incident
        if change.action is not IncidentAction.RESOLVE or incident.source != SOURCE or not incident.reporter:
            return
        context = {
            "number": incident.number,
            "title": incident.title,
            "comment": change.comment,
            "link": f"{self.base_url}/incidents/{incident.number}",
        }
        person = correspondent(incident.reporter, "")
        self.notifier.queue(session, person, MessageKind.MAIL_RESOLVED, context, change.at, incident.number)


def correspondent(address: str, name: str) -> Person:
    """A client who wrote, as the notifier addresses people: by e-mail only (the role is not used)."""
    return Person(handle=address[:100], name=name or "", role=Role.OPERATOR, email=address)


def _keep_file(directory: Path, data: bytes) -> str:
    """Write an attachment by its SHA-256 (the same file twice is kept once); its path."""
    digest = hashlib.sha256(data).hexdigest()
    path = directory / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)
    return str(path)

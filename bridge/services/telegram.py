"""Acting from Telegram: button presses under a page, replies to the bot's messages, and linking a
Telegram account to a bridge user with a one-time code.

Every update is taken in one transaction that also records its update id (`telegram_updates`, a
primary key) and moves the poller's offset on: an update delivered twice (a poller restarted
before Telegram heard the new offset, two pollers whose leases overlapped, a webhook retried)
acts once, and none is lost, since the offset only moves with an effect committed. What the bot
says back (answerCallbackQuery, editMessageText, sendMessage) is said after the commit; a failure
there is logged and loses no action.

A press or a reply acts as the bridge user the pressing account belongs to (`users.telegram_id`,
set by `/start <code>`, or the rota's `telegram_id:` of a person who is a user), through the
same incident actions and rights as the console, landing in the timeline "via telegram". An
account bridge cannot map to an enabled user is told it is not linked, and nothing about the
incident; an incident a viewer may not see gets the same answer as one that does not exist.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Notification, TelegramPoller, TelegramUpdate, TimelineEntry, User
from bridge.errors import BridgeError, NotFound
from bridge.integrations.telegram import TEXT_MAX, CallbackPress, TelegramBot, TextMessage, Update
from bridge.services.handoff import Handoff
from bridge.services.hooks import IncidentHooks
from bridge.services.incidents import act_on, get_incident
from bridge.services.live import LiveRota
from bridge.services.people import person_of
from bridge.ticketing.buttons import Button, keyboard, parse_press
from bridge.ticketing.lifecycle import VERBS, IncidentAction, allowed_actions
from bridge.ticketing.roles import INCIDENT_ACTIONS, Action, Person

log = logging.getLogger(__name__)

VIA = "telegram"
"""What the timeline's `via` says of an action taken from Telegram."""
POLLER_ROW = 1
LEASE_MARGIN = timedelta(seconds=30)
"""A poll's lease outlasts its long poll by this much."""
RATE_WINDOW = timedelta(minutes=1)
CODE_BYTES = 6  # 8 characters of URL-safe base64: 48 bits, good for minutes and a rate limit
KEEP_UPDATES = timedelta(days=2)
"""Taken updates are kept this long: Telegram hands an update out for at most 24 hours, so an
older one cannot come again (and the rate limit looks back one minute)."""
PRUNE_EVERY = timedelta(hours=1)
SHOWN_ACTIONS = ("acknowledged", "escalated", "resolved", "closed", "reopened", "cancelled")
"""Timeline kinds an edited page lists under its text."""

NOT_LINKED = "This Telegram account is not linked to a bridge user. Link it from your page in the console."
NOT_ALLOWED = "You cannot do that here."
TOO_MANY = "Too many actions from this account; try again in a minute."
NOT_A_BUTTON = "That is not one of bridge's buttons."
BAD_CODE = "That code is not valid or has expired. Get a new one from your page in the console."
HELP = (
    "This is bridge's bot. Link your account with /start <code> (the code is on your page in the "
    "console); then press the buttons under a page, or reply to it to comment. /unlink undoes it."
)


class Outcome(StrEnum):
    """What became of an update (the `telegram_updates.outcome` column)."""

    ACTED = "acted"
    COMMENTED = "commented"
    ALREADY = "already"  # the incident's state no longer allows the action: it was said
    STRANGER = "stranger"
    REFUSED = "refused"
    LIMITED = "limited"
    LINKED = "linked"
    UNLINKED = "unlinked"
    BAD_CODE = "bad_code"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"  # taken before: nothing done


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    expires_at: datetime


@dataclass
class _Reply:
    """What to say once the update's transaction is committed."""

    answer: str | None = None  # answerCallbackQuery's text
    message: str | None = None  # a sendMessage to the update's chat
    edit_text: str | None = None  # editMessageText of the pressed page
    edit_rows: list[list[Button]] | None = None


def code_digest(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


class TelegramDesk:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        bot: TelegramBot,
        rota: LiveRota,
        hooks: Callable[[], IncidentHooks],
        handoff: Handoff,
        *,
        postgres: bool,
        base_url: str | None,
        presses_per_minute: int,
        link_ttl: timedelta,
        poll_seconds: int,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.bot = bot
        self.rota = rota
        self.hooks = hooks
        self.handoff = handoff
        self.postgres = postgres
        self.base_url = base_url.rstrip("/") if base_url else None
        self.presses_per_minute = presses_per_minute
        self.link_ttl = link_ttl
        self.poll_seconds = poll_seconds

    # -- linking, from the console --------------------------------------------------------------

    def new_link_code(self, handle: str) -> LinkCode:
        """A one-time code that links the Telegram account sending `/start <code>` to `handle`;
        it replaces the user's previous code. NotFound for no such user."""
        code = secrets.token_urlsafe(CODE_BYTES)
        expires_at = self.clock.now() + self.link_ttl
        with self.sessions() as session, session.begin():
            user = _user(session, handle)
            user.telegram_code_sha256 = code_digest(code)
            user.telegram_code_expires_at = expires_at
        return LinkCode(code, expires_at)

    def unlink(self, handle: str) -> bool:
        """Forget `handle`'s linked Telegram account (and any pending code); False if none was."""
        with self.sessions() as session, session.begin():
            user = _user(session, handle)
            was = user.telegram_id is not None
            user.telegram_id = user.telegram_code_sha256 = user.telegram_code_expires_at = None
        return was

    def linked_account(self, handle: str) -> int | None:
        """The Telegram user id `handle` acts from: linked in the console, else from the rota."""
        with self.sessions() as session:
            user = _user(session, handle)
            if user.telegram_id is not None:
                return user.telegram_id
        person = self.rota.rota.people.get(handle)
        return person.telegram_id if person is not None else None

    # -- the long poll --------------------------------------------------------------------------

    def poll_once(self, holder: str) -> int | None:
        """Take the poll lease (None: another process holds it), fetch what is new and take it;
        returns how many updates came."""
        if not self._take_lease(holder):
            return None
        updates = self.bot.get_updates(self.offset(), self.poll_seconds)
        for found in updates:
            self.take(found)
        return len(updates)

    def offset(self) -> int:
        """The next update id to ask Telegram for."""
        with self.sessions() as session:
            row = session.get(TelegramPoller, POLLER_ROW)
            return row.next_update_id if row is not None else 0

    def give_back_lease(self, holder: str) -> None:
        """Let another process poll at once (a stopping process)."""
        with self.sessions() as session, session.begin():
            session.execute(
                update(TelegramPoller)
                .where(TelegramPoller.id == POLLER_ROW, TelegramPoller.holder == holder)
                .values(holder=None, lease_until=None)
            )

    def _take_lease(self, holder: str) -> bool:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            self._ensure_row(session)
            free = (
                (TelegramPoller.lease_until.is_(None))
                | (TelegramPoller.lease_until <= now)
                | (TelegramPoller.holder == holder)
            )
            taken = session.execute(
                update(TelegramPoller)
                .where(TelegramPoller.id == POLLER_ROW, free)
                .values(holder=holder, lease_until=now + timedelta(seconds=self.poll_seconds) + LEASE_MARGIN)
            )
            return bool(taken.rowcount)  # type: ignore[attr-defined]

    def _ensure_row(self, session: Session) -> None:
        insert = postgresql.insert if self.postgres else sqlite.insert
        session.execute(
            insert(TelegramPoller)
            .values(id=POLLER_ROW, next_update_id=0)
            .on_conflict_do_nothing(index_elements=[TelegramPoller.id])
        )

    def prune(self) -> int:
        """Forget updates taken more than KEEP_UPDATES ago; returns how many."""
        with self.sessions() as session, session.begin():
            done = session.execute(
                delete(TelegramUpdate).where(TelegramUpdate.at < self.clock.now() - KEEP_UPDATES)
            )
            return int(done.rowcount)  # type: ignore[attr-defined]

    # -- one update -----------------------------------------------------------------------------

    def take(self, found: Update) -> Outcome:
        """Act on one update, once; then say what came of it."""
        reply = _Reply()
        try:
            with self.sessions() as session, session.begin():
                self._ensure_row(session)
                poller = session.scalars(
                    select(TelegramPoller).where(TelegramPoller.id == POLLER_ROW).with_for_update()
                ).one()  # every update waits for the one before it: one offset, moved in order
                if session.get(TelegramUpdate, found.update_id) is not None:
                    poller.next_update_id = max(poller.next_update_id, found.update_id + 1)
                    return Outcome.DUPLICATE
                now = self.clock.now()
                outcome, incident = self._decide(session, found, now, reply)
                session.add(
                    TelegramUpdate(
                        update_id=found.update_id,
                        from_id=found.from_id,
                        kind=_kind(found),
                        outcome=outcome.value,
                        incident_number=incident,
                        at=now,
                    )
                )
                poller.next_update_id = max(poller.next_update_id, found.update_id + 1)
        except IntegrityError:
            return Outcome.DUPLICATE  # another process took it at the same instant
        if outcome in (Outcome.ACTED, Outcome.COMMENTED):
            self.handoff.work()  # the notifications and write-back the action queued
        self._say(found, reply)
        return outcome

    def _decide(
        self, session: Session, found: Update, now: datetime, reply: _Reply
    ) -> tuple[Outcome, int | None]:
        if isinstance(found, CallbackPress):
            return self._press(session, found, now, reply)
        if isinstance(found, TextMessage):
            return self._text(session, found, now, reply)
        return Outcome.IGNORED, None

    def _press(
        self, session: Session, press: CallbackPress, now: datetime, reply: _Reply
    ) -> tuple[Outcome, int | None]:
        person = self._person(session, press.from_id)
        if person is None:
            reply.answer = NOT_LINKED
            return Outcome.STRANGER, None
        if self._limited(session, press.from_id, now):
            reply.answer = TOO_MANY
            return Outcome.LIMITED, None
        wanted = parse_press(press.data)
        if wanted is None:
            reply.answer = NOT_A_BUTTON
            return Outcome.IGNORED, None
        try:
            incident = get_incident(session, wanted.incident, lock=True, only_client=person.client_scope)
        except NotFound:
            reply.answer = NOT_ALLOWED  # the same words whether it exists or is another client's
            return Outcome.REFUSED, None
        if not person.may(INCIDENT_ACTIONS[wanted.action]):
            reply.answer = f"Your role ({person.role.value}) may not {wanted.action.value} incidents."
            return Outcome.REFUSED, incident.number
        if wanted.action not in allowed_actions(incident.status):
            reply.answer = f"#{incident.number} is {incident.status.value} already; nothing done."
            self._page_edit(session, press, incident.number, reply)
            return Outcome.ALREADY, incident.number
        try:
            with session.begin_nested():
                act_on(session, incident.number, wanted.action, person.handle, now, self.hooks(), via=VIA)
        except BridgeError as exc:
            reply.answer = f"#{incident.number}: {exc}"
            return Outcome.REFUSED, incident.number
        reply.answer = f"#{incident.number} {VERBS[wanted.action]} by {person.name}."
        self._page_edit(session, press, incident.number, reply)
        return Outcome.ACTED, incident.number

    def _text(
        self, session: Session, message: TextMessage, now: datetime, reply: _Reply
    ) -> tuple[Outcome, int | None]:
        words = message.text.strip().split()
        command = words[0].split("@")[0].lower() if words and words[0].startswith("/") else None
        if command == "/start":
            if self._limited(session, message.from_id, now):
                reply.message = TOO_MANY
                return Outcome.LIMITED, None
            return self._link(session, message, words[1] if len(words) > 1 else None, now, reply), None
        if command in ("/unlink", "/stop"):
            user = session.scalars(select(User).where(User.telegram_id == message.from_id)).first()
            if user is None:
                reply.message = NOT_LINKED
                return Outcome.STRANGER, None
            user.telegram_id = None
            reply.message = f"Unlinked: this account no longer acts as {user.name} in bridge."
            return Outcome.UNLINKED, None
        person = self._person(session, message.from_id)
        if person is None:
            reply.message = NOT_LINKED
            return Outcome.STRANGER, None
        if message.reply_to is None or command is not None:
            reply.message = HELP
            return Outcome.IGNORED, None
        if self._limited(session, message.from_id, now):
            reply.message = TOO_MANY
            return Outcome.LIMITED, None
        number = session.scalar(
            select(Notification.incident_number).where(
                Notification.channel == VIA,
                Notification.address == str(message.chat_id),
                Notification.external_ref == str(message.reply_to),
            )
        )
        if number is None:
            reply.message = "Reply to one of bridge's messages about an incident to comment on it."
            return Outcome.IGNORED, None
        try:
            get_incident(session, number, lock=True, only_client=person.client_scope)
        except NotFound:
            reply.message = NOT_ALLOWED
            return Outcome.REFUSED, None
        if not person.may(Action.COMMENT):
            reply.message = NOT_ALLOWED
            return Outcome.REFUSED, number
        try:
            with session.begin_nested():
                act_on(
                    session,
                    number,
                    IncidentAction.COMMENT,
                    person.handle,
                    now,
                    self.hooks(),
                    comment=message.text[:10_000],
                    via=VIA,
                )
        except BridgeError as exc:
            reply.message = f"#{number}: {exc}"
            return Outcome.REFUSED, number
        reply.message = f"Comment added to #{number}."
        return Outcome.COMMENTED, number

    def _link(
        self, session: Session, message: TextMessage, code: str | None, now: datetime, reply: _Reply
    ) -> Outcome:
        if code is None:
            reply.message = HELP
            return Outcome.IGNORED
        user = session.scalars(
            select(User).where(User.telegram_code_sha256 == code_digest(code)).with_for_update()
        ).first()
        if (
            user is None
            or user.disabled_at is not None
            or user.telegram_code_expires_at is None
            or user.telegram_code_expires_at <= now
        ):
            reply.message = BAD_CODE
            return Outcome.BAD_CODE
        session.execute(  # an account acts as one user: the last one it was linked to
            update(User).where(User.telegram_id == message.from_id).values(telegram_id=None)
        )
        session.flush()
        user.telegram_id = message.from_id
        user.telegram_code_sha256 = user.telegram_code_expires_at = None
        reply.message = f"Linked: this Telegram account acts as {user.name} ({user.handle}) in bridge."
        return Outcome.LINKED

    # -- who and how often ----------------------------------------------------------------------

    def _person(self, session: Session, telegram_id: int) -> Person | None:
        """The enabled bridge user this Telegram account belongs to: linked in the console, else
        a rota person's `telegram_id:` whose handle is a user."""
        user = session.scalars(select(User).where(User.telegram_id == telegram_id)).first()
        if user is None:
            handles = [p.handle for p in self.rota.rota.people.values() if p.telegram_id == telegram_id]
            if handles:
                user = session.scalars(select(User).where(User.handle == handles[0])).first()
        if user is None or user.disabled_at is not None:
            return None
        return person_of(user)

    def _limited(self, session: Session, telegram_id: int, now: datetime) -> bool:
        recent = session.scalar(
            select(func.count())
            .select_from(TelegramUpdate)
            .where(TelegramUpdate.from_id == telegram_id, TelegramUpdate.at > now - RATE_WINDOW)
        )
        return (recent or 0) >= self.presses_per_minute

    # -- the page, edited -----------------------------------------------------------------------

    def _page_edit(self, session: Session, press: CallbackPress, number: int, reply: _Reply) -> None:
        """The pressed page's new text: what it said, then who acted on the incident and when; and
        the buttons that still make sense."""
        if press.chat_id is None or press.message_id is None:
            return
        sent = session.scalars(
            select(Notification).where(
                Notification.channel == VIA,
                Notification.address == str(press.chat_id),
                Notification.external_ref == str(press.message_id),
                Notification.incident_number == number,
            )
        ).first()
        if sent is None:
            return  # not a page bridge remembers sending: leave it as it is
        incident = get_incident(session, number)
        entries = session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_number == number, TimelineEntry.kind.in_(SHOWN_ACTIONS))
            .order_by(TimelineEntry.id)
        ).all()
        names = {handle: name for handle, name in session.execute(select(User.handle, User.name))}
        zone = self.rota.rota.tz  # the desk's wall clock, as its other messages say times
        lines = [_said(e, names.get(e.actor, e.actor), zone) for e in entries[-5:]]
        link = f"{self.base_url}/incidents/{number}" if self.base_url else None
        said = "\n\n" + "\n".join(lines)
        reply.edit_text = f"{sent.subject}\n\n{sent.body}".rstrip()[: TEXT_MAX - len(said)] + said
        reply.edit_rows = keyboard(number, incident.status, link)

    def _say(self, found: Update, reply: _Reply) -> None:
        try:
            if isinstance(found, CallbackPress):
                if reply.answer is not None:
                    self.bot.answer_press(found.query_id, reply.answer)
                if reply.edit_text is not None and found.chat_id is not None and found.message_id is not None:
                    self.bot.edit_message(
                        found.chat_id, found.message_id, reply.edit_text, reply.edit_rows or []
                    )
            elif isinstance(found, TextMessage) and reply.message is not None:
                self.bot.send_message(found.chat_id, reply.message)
        except Exception as exc:  # the action stands; only what the bot says back is lost
            log.warning("telegram: could not answer update %d: %s", found.update_id, exc)


MARKS = {"acknowledged": "✅", "resolved": "✅", "closed": "✅", "escalated": "⏫"}


def _said(entry: TimelineEntry, name: str, zone: ZoneInfo) -> str:
    """One action on an edited page: "✅ Acknowledged by Oleg Orlov via Telegram at 03:12 MSK"."""
    via = f" via {entry.via.capitalize()}" if entry.via else ""
    at = entry.at.astimezone(zone)
    return f"{MARKS.get(entry.kind, '•')} {entry.kind.capitalize()} by {name}{via} at {at:%Y-%m-%d %H:%M %Z}"


def _kind(found: Update) -> str:
    if isinstance(found, CallbackPress):
        return "press"
    if isinstance(found, TextMessage):
        return "command" if found.text.startswith("/") else "reply" if found.reply_to is not None else "text"
    return "other"


def _user(session: Session, handle: str) -> User:
    user = session.scalars(select(User).where(User.handle == handle).with_for_update()).first()
    if user is None:
        raise NotFound(f"no user {handle!r}")
    return user

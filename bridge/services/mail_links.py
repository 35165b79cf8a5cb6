"""Acting from a notification mail: the Acknowledge and Escalate links it carries, and what opening
and confirming one does.

A link is issued for one recipient (a rota person's handle), one incident and one action, in the
transaction that queues the mail: a random id stored in `mail_links` with its expiry, and a token
signed with BRIDGE_SECRET_KEY (itsdangerous) that carries the id, the incident, the person and the
action. The signed token is the credential: a mail client or a link scanner that opens it (GET)
only sees a confirmation page (`inspect`); the page's POST (`use`) carries a CSRF token bound to
the link and to the browser that loaded the page (an HMAC of the link's id and a cookie nonce),
and acts through the incident service's `act_on` as the recipient, once: the row's `used_at` is
set by a conditional UPDATE in the same transaction as the action, so two confirmations of one
link act once on every database.

A link is refused (`LinkRefused`, with the `LinkProblem`) when its signature does not hold, when
bridge never issued its id, when it expired or was used, when it is bound to another person than
the one it names or than the one signed in to the console in that browser, when its person is
disabled or gone from the rota, or when their role no longer allows the action. Confirmations are
counted per person (`mail_link_uses`) and refused beyond BRIDGE_MAIL_LINK_MAX_USES in
`RATE_WINDOW`. An incident already past the action (acknowledged, resolved, closed) is answered
with its state, and the link is left unused.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Incident, MailLink, MailLinkUse, TimelineEntry, User
from bridge.errors import InvalidTransition, LinkRefused, NotFound
from bridge.services.handoff import Handoff
from bridge.services.hooks import IncidentHooks
from bridge.services.incidents import act_on, get_incident
from bridge.services.live import LiveRota
from bridge.services.people import person_of
from bridge.settings import Settings
from bridge.ticketing.lifecycle import VERBS, IncidentAction, IncidentStatus, next_status
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.roles import INCIDENT_ACTIONS, Action, Person, Role
from bridge.ticketing.rota import Rota

SALT = "bridge.mail-link"
"""Separates these signatures from anything else BRIDGE_SECRET_KEY signs."""
KEEP_EXPIRED = timedelta(days=7)
"""How long a link's row outlives its expiry (its token says it expired even after that)."""
PRUNE_BATCH = 20
RATE_WINDOW = timedelta(minutes=10)
"""The window BRIDGE_MAIL_LINK_MAX_USES counts a person's confirmations in."""
VIA = "e-mail"
"""The channel on the timeline entry of an action taken from a mail (as Telegram's say "telegram")."""
ACTIONABLE = frozenset(
    {
        MessageKind.REGISTRATION,
        MessageKind.ESCALATION,
        MessageKind.BREACH,
        MessageKind.ASSIGNED,
        MessageKind.RETURNED,
    }
)
"""The messages about an incident that needs someone: their mails carry the links."""
ROTA_ROLE = Role.OPERATOR
"""The rights of a rota person who has no bridge user: the rota pages them to act on incidents,
and a link sent to their address proves the mail reached them."""


class LinkAction(StrEnum):
    ACK = "ack"
    ESCALATE = "escalate"

    @property
    def incident_action(self) -> IncidentAction:
        return IncidentAction.ACK if self is LinkAction.ACK else IncidentAction.ESCALATE


MAIL_LINK = re.compile(r"(/mail-link/)[^\s/?#]+")
"""The path of a mail link: its last part is the signed token."""


def hide_link_tokens(text: str) -> str:
    """`text` with the token of every mail link in it masked (``/mail-link/***``): wherever a
    stored message or a request path is shown (the API's notifications, an access log), a token
    would let its reader act as the person it was sent to."""
    return MAIL_LINK.sub(r"\1***", text)


ACTION_VALUES = frozenset(action.value for action in LinkAction)


class LinkProblem(StrEnum):
    """Why a link does nothing."""

    TAMPERED = "tampered"  # the signature does not hold (changed, cut, or another key's)
    UNKNOWN = "unknown"  # signed, but bridge has no such link (another bridge's database, pruned)
    EXPIRED = "expired"
    USED = "used"
    NOT_YOURS = "not_yours"  # bound to another person than it names, or than the one signed in
    DISABLED = "disabled"  # its person is disabled, or no longer in the rota
    NOT_ALLOWED = "not_allowed"  # its person's role does not allow the action any more
    BAD_CSRF = "bad_csrf"  # the confirmation did not come from the page bridge showed
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True, slots=True)
class ActionLinks:
    """The links of one mail (what the templates show as `actions`)."""

    acknowledge: str
    escalate: str


@dataclass(frozen=True, slots=True)
class LinkView:
    """A link and its incident as the confirmation or result page shows them."""

    link_id: str
    action: LinkAction
    person: str
    person_name: str
    number: int
    title: str
    priority: str
    status: IncidentStatus
    client: str | None
    assignee: str | None
    opened_at: datetime
    acknowledged_at: datetime | None
    expires_at: datetime
    possible: bool  # the incident's status allows the action now
    acted_by: str | None  # who took the action already (the latest such timeline entry)


@dataclass(frozen=True, slots=True)
class LinkOutcome:
    """What a confirmation did: `acted` False when the incident was past the action already."""

    view: LinkView
    acted: bool


@dataclass(frozen=True, slots=True)
class _Signed:
    link_id: str
    number: int
    person: str
    action: LinkAction
    expires_at: datetime  # signed too: a link whose row was pruned still says it expired


class MailLinks:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Clock,
        rota: LiveRota,
        hooks: Callable[[], IncidentHooks],
        handoff: Handoff,
    ) -> None:
        """`hooks` gives the incident hooks when an action needs them (as the incident service's)."""
        self.sessions = sessions
        self.clock = clock
        self.rota = rota
        self.hooks = hooks
        self.handoff = handoff
        self.base_url = (settings.base_url or "").rstrip("/")
        self.lifetime = settings.mail_link_lifetime
        self.max_uses = settings.mail_link_max_uses
        self.enabled = settings.mail_links
        self._key = (settings.secret_key or "").encode()
        self._serializer = URLSafeSerializer(settings.secret_key or "unset", salt=SALT)

    # -- issuing (inside the transaction that queues the mail) ----------------------------------

    def issue(self, session: Session, person: str, number: int, now: datetime) -> ActionLinks | None:
        """The links of a mail to `person` about incident `number`, stored in the caller's
        transaction; None when links are off (no BRIDGE_BASE_URL, BRIDGE_SECRET_KEY or lifetime)."""
        if not self.enabled:
            return None
        self._prune(session, now)
        urls = {action: self._issue_one(session, person, number, action, now) for action in LinkAction}
        return ActionLinks(
            acknowledge=urls[LinkAction.ACK],
            escalate=urls[LinkAction.ESCALATE],
        )

    def _issue_one(
        self, session: Session, person: str, number: int, action: LinkAction, now: datetime
    ) -> str:
        link_id = secrets.token_urlsafe(18)
        expires_at = now + self.lifetime
        session.add(
            MailLink(
                id=link_id,
                incident_number=number,
                person=person,
                action=action.value,
                issued_at=now,
                expires_at=expires_at,
            )
        )
        return f"{self.base_url}/mail-link/{self.sign(link_id, number, person, action, expires_at)}"

    def sign(self, link_id: str, number: int, person: str, action: LinkAction, expires_at: datetime) -> str:
        """The signed token of a link (what `issue` puts in the URL's last part)."""
        payload = {
            "l": link_id,
            "n": number,
            "p": person,
            "a": action.value,
            "e": int(expires_at.timestamp()),
        }
        return str(self._serializer.dumps(payload))

    def _prune(self, session: Session, now: datetime) -> None:
        """Forget a few links long expired (a link issued adds two rows, this takes up to
        `PRUNE_BATCH`); rows another transaction is pruning are skipped, never waited for."""
        stale = (
            select(MailLink.id)
            .where(MailLink.expires_at < now - KEEP_EXPIRED)
            .order_by(MailLink.expires_at)
            .limit(PRUNE_BATCH)
            .with_for_update(skip_locked=True)
        )
        ids = list(session.scalars(stale))
        if ids:
            session.execute(delete(MailLink).where(MailLink.id.in_(ids)))

    # -- the confirmation page (GET: reads only) -------------------------------------------------

    def inspect(self, token: str, signed_in: str | None = None) -> LinkView:
        """The link and its incident, for the confirmation page; LinkRefused when the link cannot
        be used (see the module's docstring). Changes nothing."""
        signed = self._verify(token)
        now = self.clock.now()
        with self.sessions() as session:
            link = session.get(MailLink, signed.link_id)
            self._check(session, signed, link, now, signed_in)
            return self._view(session, signed)

    def confirm_token(self, token: str, nonce: str) -> str:
        """The CSRF token the confirmation form carries: bound to the link and to the browser's
        nonce (a cookie), so only the page bridge showed in that browser can confirm."""
        message = f"{SALT}.confirm|{token}|{nonce}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    # -- confirming (POST) ----------------------------------------------------------------------

    def use(self, token: str, nonce: str, presented: str, signed_in: str | None = None) -> LinkOutcome:
        """Take the link's action as its person, once; LinkRefused when it cannot be (nothing is
        changed then, except that the confirmation counts towards the person's rate limit)."""
        signed = self._verify(token)
        self._count_use(signed.person)
        if not nonce or not hmac.compare_digest(
            presented.encode(), self.confirm_token(token, nonce).encode()
        ):
            raise LinkRefused(
                LinkProblem.BAD_CSRF,
                "this confirmation did not come from the page bridge showed: open the link again",
            )
        now = self.clock.now()
        action = signed.action.incident_action
        with self.sessions() as session, session.begin():
            link = session.get(MailLink, signed.link_id)
            self._check(session, signed, link, now, signed_in)
            incident = get_incident(session, signed.number, lock=True)
            try:
                next_status(incident.number, incident.status, action)
            except InvalidTransition:
                return LinkOutcome(self._view(session, signed), acted=False)
            taken = session.execute(
                update(MailLink)
                .where(MailLink.id == signed.link_id, MailLink.used_at.is_(None))
                .values(used_at=now)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                raise LinkRefused(LinkProblem.USED, "this link was used already")
            act_on(session, signed.number, action, signed.person, now, self.hooks(), via=VIA)
            session.flush()
            view = self._view(session, signed)
        self.handoff.work()  # the write-back and the messages the action queued go out soon
        return LinkOutcome(view, acted=True)

    def _count_use(self, person: str) -> None:
        """Record one confirmation by `person`; LinkRefused beyond the limit in RATE_WINDOW."""
        now = self.clock.now()
        since = now - RATE_WINDOW
        with self.sessions() as session, session.begin():
            session.execute(delete(MailLinkUse).where(MailLinkUse.at < since))
            count, oldest = session.execute(
                select(func.count(), func.min(MailLinkUse.at)).where(
                    MailLinkUse.person == person, MailLinkUse.at > since
                )
            ).one()
            if count >= self.max_uses:
                wait = max(1, math.ceil((oldest + RATE_WINDOW - now).total_seconds()))
                raise LinkRefused(
                    LinkProblem.RATE_LIMITED,
                    f"too many confirmations from mail links for {person}; try again in {wait} seconds",
                    retry_after=wait,
                )
            session.add(MailLinkUse(person=person, at=now))

    # -- inside ---------------------------------------------------------------------------------

    def _verify(self, token: str) -> _Signed:
        if not self.enabled:
            raise LinkRefused(LinkProblem.UNKNOWN, "this bridge does not take links from mails")
        tampered = LinkRefused(
            LinkProblem.TAMPERED, "this link is not one bridge signed: it was changed or cut short"
        )
        try:
            data = self._serializer.loads(token)
        except BadData:
            raise tampered from None
        if not isinstance(data, dict):
            raise tampered
        link_id, number, person, action, expires = (data.get(key) for key in ("l", "n", "p", "a", "e"))
        if not (
            isinstance(link_id, str)
            and isinstance(number, int)
            and not isinstance(number, bool)
            and isinstance(expires, int)
            and not isinstance(expires, bool)
            and 0 <= expires < 2**40
            and isinstance(person, str)
            and isinstance(action, str)
            and action in ACTION_VALUES
        ):
            raise tampered
        return _Signed(link_id, number, person, LinkAction(action), datetime.fromtimestamp(expires, UTC))

    def _check(
        self, session: Session, signed: _Signed, link: MailLink | None, now: datetime, signed_in: str | None
    ) -> None:
        if link is None:
            if now >= signed.expires_at:  # expired long ago, and forgotten since
                raise LinkRefused(LinkProblem.EXPIRED, "this link has expired: act in the console instead")
            raise LinkRefused(LinkProblem.UNKNOWN, "bridge has no such link")
        if (
            link.person != signed.person
            or link.incident_number != signed.number
            or link.action != signed.action
        ):
            raise LinkRefused(LinkProblem.NOT_YOURS, "this link belongs to another person or incident")
        if signed_in is not None and signed_in != link.person:
            raise LinkRefused(
                LinkProblem.NOT_YOURS,
                f"this link was sent to {self.rota.rota.display(link.person)}, and you are signed in as "
                f"{signed_in}: act in the console instead",
            )
        if link.used_at is not None:
            raise LinkRefused(LinkProblem.USED, "this link was used already")
        if now >= link.expires_at:
            raise LinkRefused(LinkProblem.EXPIRED, "this link has expired: act in the console instead")
        person = acting_person(session, self.rota.rota, link.person)
        if person is None:
            raise LinkRefused(
                LinkProblem.DISABLED, f"{link.person} may not act any more (disabled or not in the rota)"
            )
        right = INCIDENT_ACTIONS[signed.action.incident_action]
        if not may_act_on(session, person, right, signed.number):
            raise LinkRefused(
                LinkProblem.NOT_ALLOWED,
                f"{link.person} ({person.role.value}) may not {right.value.replace('_', ' ')} this incident",
            )

    def _view(self, session: Session, signed: _Signed) -> LinkView:
        try:
            incident: Incident = get_incident(session, signed.number)
        except NotFound:
            raise LinkRefused(LinkProblem.UNKNOWN, "bridge has no such incident") from None
        link = session.get(MailLink, signed.link_id)
        assert link is not None
        action = signed.action.incident_action
        try:
            next_status(incident.number, incident.status, action)
            possible = True
        except InvalidTransition:
            possible = False
        acted_by = session.scalar(
            select(TimelineEntry.actor)
            .where(TimelineEntry.incident_number == incident.number, TimelineEntry.kind == VERBS[action])
            .order_by(TimelineEntry.id.desc())
            .limit(1)
        )
        rota = self.rota.rota
        person = rota.person(signed.person)
        return LinkView(
            link_id=link.id,
            action=signed.action,
            person=signed.person,
            person_name=person.name if person is not None else signed.person,
            number=incident.number,
            title=incident.title,
            priority=str(incident.priority),
            status=incident.status,
            client=incident.client,
            assignee=rota.display(incident.assignee) if incident.assignee else None,
            opened_at=incident.opened_at,
            acknowledged_at=incident.acknowledged_at,
            expires_at=link.expires_at,
            possible=possible,
            acted_by=acted_by,
        )


def acting_person(session: Session, rota: Rota, handle: str) -> Person | None:
    """Who a rota person acts as from a mail (a link, a reply): their bridge user (None when it is
    disabled), else, for someone the rota lists without a user, a person with `ROTA_ROLE`'s
    rights; None for someone in neither."""
    user = session.scalars(select(User).where(User.handle == handle)).first()
    if user is not None:
        return None if user.disabled_at is not None else person_of(user)
    listed = rota.person(handle)
    if listed is None:
        return None
    return Person(handle=handle, name=listed.name, role=ROTA_ROLE, client=None, locale="")


def may_act_on(session: Session, person: Person, right: Action, number: int) -> bool:
    """`person`'s role allows `right`, on incident `number` (a viewer: only their client's)."""
    if not person.may(right):
        return False
    scope = person.client_scope
    if scope is None:
        return True
    return session.scalar(select(Incident.client).where(Incident.number == number)) == scope

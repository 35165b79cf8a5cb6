"""People: users and their roles, passwords (argon2), console sign-ins (server-side sessions),
login throttling, and personal API tokens.

Each method opens its own session and commits. Secrets are stored hashed: passwords with argon2,
session keys and personal tokens (random, so a fast hash is enough) as SHA-256; a new token or
session key exists in clear only in the value a method returns. The acting person (`actor`) of a
change is logged; an unknown handle and a wrong password are refused with the same words, after
the same work.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import LoginAttempt, PersonalToken, User, WebSession
from bridge.db.queries import Page, Paging, paged
from bridge.errors import Conflict, NotFound, PayloadError, TooManyAttempts, Unauthenticated
from bridge.settings import Settings
from bridge.ticketing.lifecycle import SYSTEM_ACTOR
from bridge.ticketing.roles import ADMIN_HANDLE, LOCALES, Person, Role

log = logging.getLogger(__name__)

HANDLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}")
"""A handle as the rota writes them (`ivanov`, `a.petrova`), at most the column's 100 characters."""
RESERVED_HANDLES = frozenset({ADMIN_HANDLE, SYSTEM_ACTOR})
"""Handles the timeline already uses for the admin token and for bridge itself."""
MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # argon2 hashes anything, but a megabyte "password" is a denial of service
TOKEN_PREFIX = "bridge_pat_"  # noqa: S105 - a prefix, not a secret
"""Personal tokens start with this, so a leaked one is recognisable (and secret scanners find it)."""
TOUCH_EVERY = timedelta(minutes=1)
"""A session's last activity and a token's last use are written at most this often."""
BAD_LOGIN = "wrong user name or password"
EVERY = Paging(limit=1_000_000, offset=0)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NewUser:
    handle: str
    name: str
    role: Role
    client: str | None = None
    locale: str = "en"
    password: str | None = None


@dataclass(frozen=True, slots=True)
class OpenedSession:
    """A new sign-in: `key` goes into the cookie (and nowhere else), `csrf_token` into forms."""

    key: str
    csrf_token: str
    person: Person
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The person behind a session cookie and the session's CSRF token."""

    person: Person
    csrf_token: str
    session_id: int


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new personal token: `token` is shown once and never stored."""

    id: int
    name: str
    owner: str
    token: str


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    owner: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def person_of(user: User) -> Person:
    return Person(
        handle=user.handle,
        name=user.name,
        role=Role(user.role),
        client=user.client,
        locale=user.locale,
    )


def check_handle(handle: str) -> str:
    if not HANDLE.fullmatch(handle):
        raise PayloadError(
            "handle", "letters, digits and . _ @ - (at most 100), starting with a letter or digit"
        )
    if handle.lower() in RESERVED_HANDLES:
        raise PayloadError("handle", f"{handle!r} is reserved: the timeline uses it for {handle.lower()}")
    return handle


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise PayloadError("password", f"at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise PayloadError("password", f"at most {MAX_PASSWORD} characters")
    return password


def check_profile(role: Role, client: str | None, locale: str) -> None:
    if role is Role.VIEWER and not client:
        raise PayloadError("client", "a viewer represents one client: name it")
    if role is not Role.VIEWER and client:
        raise PayloadError("client", "only a viewer belongs to a client")
    if client is not None and len(client) > 200:
        raise PayloadError("client", "at most 200 characters")
    if locale not in LOCALES:
        raise PayloadError("locale", f"one of {', '.join(LOCALES)}")


class PeopleService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        settings: Settings,
        hasher: PasswordHasher | None = None,
    ) -> None:
        """`hasher` lets tests use cheaper argon2 parameters; production takes argon2-cffi's
        defaults (RFC 9106 low-memory profile)."""
        self.sessions = sessions
        self.clock = clock
        self.settings = settings
        self.hasher = hasher or PasswordHasher()

    @cached_property
    def _dummy_hash(self) -> str:
        """What an unknown user's password is checked against, so refusing them takes as long."""
        return self.hasher.hash(secrets.token_urlsafe(16))

    # -- users ----------------------------------------------------------------------------------

    def add(self, new: NewUser, actor: str) -> Person:
        """Add a user; Conflict when the handle is taken, PayloadError for a bad field."""
        check_handle(new.handle)
        name = new.name.strip() or new.handle
        if len(name) > 200:
            raise PayloadError("name", "at most 200 characters")
        check_profile(new.role, new.client, new.locale)
        hashed = self.hasher.hash(check_password(new.password)) if new.password is not None else None
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            if session.scalar(select(User.id).where(User.handle == new.handle)) is not None:
                raise Conflict(f"there already is a user {new.handle!r}")
            user = User(
                handle=new.handle,
                name=name,
                role=new.role,
                client=new.client if new.role is Role.VIEWER else None,
                locale=new.locale,
                password_hash=hashed,
                created_at=now,
                password_changed_at=now if hashed else None,
            )
            session.add(user)
            session.flush()
            person = person_of(user)
        log.info("user %s (%s) added by %s", new.handle, new.role, actor)
        return person

    def list(self, paging: Paging, *, include_disabled: bool = True) -> Page[User]:
        """Users by handle, with how many there are."""
        statement = select(User)
        if not include_disabled:
            statement = statement.where(User.disabled_at.is_(None))
        with self.sessions() as session:
            return paged(session, statement, [User.handle], paging)

    def get(self, handle: str) -> User:
        with self.sessions() as session:
            return _user(session, handle)

    def update(
        self,
        handle: str,
        actor: str,
        *,
        name: str | None = None,
        role: Role | None = None,
        client: str | None = None,
        locale: str | None = None,
    ) -> User:
        """Change a user's name, role, client or locale (a viewer keeps a client, nobody else has one)."""
        with self.sessions() as session, session.begin():
            user = _user(session, handle, lock=True)
            new_role = role or Role(user.role)
            new_client = client if client is not None else user.client
            if new_role is not Role.VIEWER and role is not None and client is None:
                new_client = None  # promoted out of viewer: no client any more
            new_locale = locale or user.locale
            check_profile(new_role, new_client, new_locale)
            if name is not None:
                if not name.strip() or len(name) > 200:
                    raise PayloadError("name", "1 to 200 characters")
                user.name = name.strip()
            user.role, user.client, user.locale = new_role, new_client, new_locale
        log.info("user %s changed by %s", handle, actor)
        return user

    def disable(self, handle: str, actor: str) -> User:
        """Refuse the user from now on: their sessions end and their tokens stop working."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            user = _user(session, handle, lock=True)
            if user.disabled_at is None:
                user.disabled_at = now
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        log.info("user %s disabled by %s", handle, actor)
        return user

    def enable(self, handle: str, actor: str) -> User:
        with self.sessions() as session, session.begin():
            user = _user(session, handle, lock=True)
            user.disabled_at = None
        log.info("user %s enabled by %s", handle, actor)
        return user

    def set_password(self, handle: str, password: str, actor: str) -> None:
        """Set a new password; every sign-in of the user ends (a stolen session dies with it)."""
        hashed = self.hasher.hash(check_password(password))
        with self.sessions() as session, session.begin():
            user = _user(session, handle, lock=True)
            user.password_hash = hashed
            user.password_changed_at = self.clock.now()
            session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        log.info("password of %s set by %s", handle, actor)

    def person(self, handle: str) -> Person:
        """The person of an enabled user; NotFound otherwise."""
        with self.sessions() as session:
            user = _user(session, handle)
            if user.disabled_at is not None:
                raise NotFound(f"user {handle!r} is disabled")
            return person_of(user)

    # -- signing in -----------------------------------------------------------------------------

    def authenticate(self, handle: str, password: str, address: str) -> Person:
        """The person whose password this is; Unauthenticated when it is not (same words for an
        unknown user), TooManyAttempts after too many failures of the account or the address."""
        now = self.clock.now()
        address = address[:100]
        handle = handle.strip()[:100]
        self._throttle(handle, address, now)
        with self.sessions() as session:
            user = session.scalars(select(User).where(User.handle == handle)).first()
            stored = user.password_hash if user is not None and user.disabled_at is None else None
        ok = self._verify(stored or self._dummy_hash, password) and stored is not None
        with self.sessions() as session, session.begin():
            session.add(LoginAttempt(handle=handle, address=address, at=now, succeeded=ok))
            session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - self.settings.login_window))
            if ok and user is not None and stored is not None and self.hasher.check_needs_rehash(stored):
                session.execute(
                    update(User).where(User.id == user.id).values(password_hash=self.hasher.hash(password))
                )
        if not ok or user is None:
            log.info("sign-in refused for %r from %s", handle, address)
            raise Unauthenticated(BAD_LOGIN)
        return person_of(user)

    def login(self, handle: str, password: str, address: str) -> OpenedSession:
        """Check the password and open a session (see `authenticate` for the refusals)."""
        person = self.authenticate(handle, password, address)
        return self.open_session(person.handle, address)

    def open_session(self, handle: str, address: str) -> OpenedSession:
        """A new server-side session for an enabled user; its key goes into the cookie."""
        now = self.clock.now()
        key, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.sessions() as session, session.begin():
            user = _user(session, handle)
            if user.disabled_at is not None:
                raise Unauthenticated(BAD_LOGIN)
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            expires = now + self.settings.session_lifetime
            session.add(
                WebSession(
                    key_sha256=digest(key),
                    user_id=user.id,
                    csrf_token=csrf,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=expires,
                    address=address[:100],
                )
            )
            person = person_of(user)
        return OpenedSession(key, csrf, person, expires)

    def signed_in(self, key: str | None) -> SignedIn | None:
        """The person behind a session key, or None when it is unknown, expired (idle too long or
        past its lifetime) or its user disabled. Notes the activity (at most once a minute)."""
        if not key:
            return None
        now = self.clock.now()
        with self.sessions() as session:
            row = session.execute(
                select(WebSession, User)
                .join(User, User.id == WebSession.user_id)
                .where(WebSession.key_sha256 == digest(key))
            ).first()
        if row is None:
            return None
        web_session, user = row
        idle_end = web_session.last_seen_at + self.settings.session_idle
        if now >= web_session.expires_at or now >= idle_end or user.disabled_at is not None:
            with self.sessions() as session, session.begin():
                session.execute(delete(WebSession).where(WebSession.id == web_session.id))
            return None
        if now - web_session.last_seen_at >= TOUCH_EVERY:
            with self.sessions() as session, session.begin():
                session.execute(
                    update(WebSession).where(WebSession.id == web_session.id).values(last_seen_at=now)
                )
        return SignedIn(person_of(user), web_session.csrf_token, web_session.id)

    def close_session(self, key: str | None) -> None:
        """Sign out: the session's row is deleted, so its cookie opens nothing any more."""
        if not key:
            return
        with self.sessions() as session, session.begin():
            session.execute(delete(WebSession).where(WebSession.key_sha256 == digest(key)))

    # -- personal tokens ------------------------------------------------------------------------

    def issue_token(self, handle: str, name: str, actor: str) -> IssuedToken:
        """A new token of `handle`'s, acting as them; the clear text is only in the answer."""
        name = name.strip()
        if not name or len(name) > 100:
            raise PayloadError("name", "say what the token is for (1 to 100 characters)")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.sessions() as session, session.begin():
            user = _user(session, handle)
            if user.disabled_at is not None:
                raise Conflict(f"user {handle!r} is disabled")
            row = PersonalToken(
                user_id=user.id, name=name, token_sha256=digest(token), created_at=self.clock.now()
            )
            session.add(row)
            session.flush()
            issued = IssuedToken(row.id, name, handle, token)
        log.info("token %d (%s) of %s issued by %s", issued.id, name, handle, actor)
        return issued

    def list_tokens(self, handle: str | None = None, paging: Paging = EVERY) -> Page[TokenInfo]:
        """Tokens (of `handle` when given), newest first, a page of them; never their values."""
        statement = select(PersonalToken)
        with self.sessions() as session:
            if handle is not None:
                statement = statement.where(PersonalToken.user_id == _user(session, handle).id)
            page = paged(session, statement, [PersonalToken.id.desc()], paging)
            ids = {t.user_id for t in page.items}
            owners = {
                row.id: row.handle
                for row in session.execute(select(User.id, User.handle).where(User.id.in_(ids)))
            }
        items = [
            TokenInfo(t.id, t.name, owners[t.user_id], t.created_at, t.last_used_at, t.revoked_at)
            for t in page.items
        ]
        return Page(items, page.total, paging)

    def revoke_token(self, token_id: int, actor: str, *, owner: str | None = None) -> TokenInfo:
        """Revoke a token (only `owner`'s when given: NotFound for anyone else's)."""
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            row = session.execute(
                select(PersonalToken, User.handle)
                .join(User, User.id == PersonalToken.user_id)
                .where(PersonalToken.id == token_id)
                .with_for_update()
            ).first()
            if row is None or (owner is not None and row[1] != owner):
                raise NotFound(f"no token {token_id}")
            token, handle = row
            if token.revoked_at is None:
                token.revoked_at = now
            info = TokenInfo(
                token.id, token.name, handle, token.created_at, token.last_used_at, token.revoked_at
            )
        log.info("token %d of %s revoked by %s", token_id, handle, actor)
        return info

    def token_person(self, token: str | None) -> Person | None:
        """The owner of a valid personal token (not revoked, owner enabled), or None. Notes the
        use (at most once a minute)."""
        if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        now = self.clock.now()
        with self.sessions() as session:
            row = session.execute(
                select(PersonalToken, User)
                .join(User, User.id == PersonalToken.user_id)
                .where(PersonalToken.token_sha256 == digest(token))
            ).first()
        if row is None:
            return None
        found, user = row
        if found.revoked_at is not None or user.disabled_at is not None:
            return None
        if found.last_used_at is None or now - found.last_used_at >= TOUCH_EVERY:
            with self.sessions() as session, session.begin():
                session.execute(
                    update(PersonalToken).where(PersonalToken.id == found.id).values(last_used_at=now)
                )
        return person_of(user)

    # -- inside -----------------------------------------------------------------------------------

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password[:MAX_PASSWORD])
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _throttle(self, handle: str, address: str, now: datetime) -> None:
        window = self.settings.login_window
        since = now - window
        with self.sessions() as session:
            for column, value, limit, what in (
                (LoginAttempt.handle, handle, self.settings.login_max_failures, "this account"),
                (LoginAttempt.address, address, self.settings.login_max_failures_per_address, "your address"),
            ):
                failures = session.execute(
                    select(func.count(), func.min(LoginAttempt.at)).where(
                        column == value, LoginAttempt.at > since, LoginAttempt.succeeded.is_(False)
                    )
                ).one()
                count, oldest = failures
                if count >= limit:
                    wait = max(1, math.ceil((oldest + window - now).total_seconds()))
                    raise TooManyAttempts(
                        f"too many failed sign-ins for {what}; try again in {wait} seconds", wait
                    )


def _user(session: Session, handle: str, *, lock: bool = False) -> User:
    statement = select(User).where(User.handle == handle)
    if lock:
        statement = statement.with_for_update()
    user = session.scalars(statement).first()
    if user is None:
        raise NotFound(f"no user {handle!r}")
    return user

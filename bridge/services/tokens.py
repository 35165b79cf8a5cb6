"""Bearer tokens: generated when not configured, stored as SHA-256 only, compared in constant time.

A scope (alertmanager, zabbix, admin) is either pinned by its environment variable, and then
only that token is valid, or holds the tokens stored in the database.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Credential
from bridge.settings import Settings


class Scope(StrEnum):
    ALERTMANAGER = "alertmanager"
    ZABBIX = "zabbix"
    ADMIN = "admin"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def pinned_token(settings: Settings, scope: Scope) -> str | None:
    """The token an environment variable sets for `scope`, if any."""
    return {
        Scope.ALERTMANAGER: settings.alertmanager_token,
        Scope.ZABBIX: settings.zabbix_token,
        Scope.ADMIN: settings.admin_token,
    }[scope]


@dataclass(frozen=True, slots=True)
class GeneratedToken:
    scope: Scope
    token: str


def ensure_tokens(sessions: sessionmaker[Session], settings: Settings, now: datetime) -> list[GeneratedToken]:
    """Generate and store a token for every scope that has neither a setting nor a stored token.

    Returns the new tokens in clear text: the only moment they exist outside the caller.
    """
    generated = []
    with sessions() as session, session.begin():
        for scope in Scope:
            if pinned_token(settings, scope) or _valid_hashes(session, scope, now):
                continue
            token = new_token()
            session.add(
                Credential(scope=scope.value, label="generated", token_sha256=digest(token), created_at=now)
            )
            generated.append(GeneratedToken(scope, token))
    return generated


def rotate(sessions: sessionmaker[Session], scope: Scope, now: datetime) -> str:
    """Revoke every stored token of `scope` and store a new one."""
    token = new_token()
    with sessions() as session, session.begin():
        session.execute(
            update(Credential)
            .where(Credential.scope == scope.value, Credential.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        session.add(
            Credential(scope=scope.value, label="rotated", token_sha256=digest(token), created_at=now)
        )
    return token


def issue_temporary(
    sessions: sessionmaker[Session], scope: Scope, label: str, ttl: timedelta, now: datetime
) -> str:
    """A short-lived extra token (e.g. for `bridge demo`)."""
    token = new_token()
    with sessions() as session, session.begin():
        session.add(
            Credential(
                scope=scope.value,
                label=label,
                token_sha256=digest(token),
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return token


def _valid_hashes(session: Session, scope: Scope, now: datetime) -> list[str]:
    query = select(Credential.token_sha256, Credential.expires_at).where(
        Credential.scope == scope.value, Credential.revoked_at.is_(None)
    )
    return [h for h, expires in session.execute(query) if expires is None or expires > now]


def presented_token(authorization: str | None) -> str | None:
    """The token in an Authorization header: ``Bearer <token>``, or the password of Basic auth
    (Alertmanager's `basic_auth` works with any user name and the token as password)."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value:
        return value
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


class TokenVerifier:
    """Checks presented tokens; stored hashes are cached briefly so a webhook costs no extra query."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, clock: Clock, cache_seconds: float = 5.0
    ):
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.cache_seconds = cache_seconds
        self._cache: dict[Scope, tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def check(self, scope: Scope, token: str | None) -> bool:
        if not token:
            return False
        presented = digest(token)
        pinned = pinned_token(self.settings, scope)
        if pinned:
            return hmac.compare_digest(presented, digest(pinned))
        ok = False
        for stored in self._hashes(scope):
            ok |= hmac.compare_digest(presented, stored)
        return ok

    def configured(self, scope: Scope) -> bool:
        """Some token of `scope` can be presented: pinned by a setting, or stored."""
        return bool(pinned_token(self.settings, scope) or self._hashes(scope))

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()

    def _hashes(self, scope: Scope) -> list[str]:
        with self._lock:
            cached = self._cache.get(scope)
            if cached is not None and time.monotonic() - cached[0] < self.cache_seconds:
                return cached[1]
        with self.sessions() as session:
            hashes = _valid_hashes(session, scope, self.clock.now())
        with self._lock:
            self._cache[scope] = (time.monotonic(), hashes)
        return hashes

"""Bearer tokens: generated when not configured, stored as SHA-256 only, compared in constant time.

A scope (alertmanager, zabbix, admin) is either pinned by its environment variable, and then
only that token is valid, or holds the tokens stored in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Credential, Scope
from bridge.errors import Conflict
from bridge.settings import Settings


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


def _valid_hashes(session: Session, scope: Scope, now: datetime) -> list[str]:
    query = select(Credential.token_sha256, Credential.expires_at).where(
        Credential.scope == scope, Credential.revoked_at.is_(None)
    )
    return [h for h, expires in session.execute(query) if expires is None or expires > now]


class TokenService:
    """Checks presented tokens (stored hashes are cached briefly, so a webhook costs no extra
    query), and makes new ones: generated at first start, rotated, or temporary."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, clock: Clock, cache_seconds: float = 5.0
    ) -> None:
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

    def generate_missing(self) -> list[GeneratedToken]:
        """Generate and store a token for every scope that has neither a setting nor a stored
        token. Returns the new tokens in clear text: the only moment they exist outside the caller."""
        now = self.clock.now()
        generated = []
        with self.sessions() as session, session.begin():
            for scope in Scope:
                if pinned_token(self.settings, scope) or _valid_hashes(session, scope, now):
                    continue
                token = new_token()
                session.add(
                    Credential(scope=scope, label="generated", token_sha256=digest(token), created_at=now)
                )
                generated.append(GeneratedToken(scope, token))
        self.forget()
        return generated

    def rotate(self, scope: Scope, actor: str) -> str:
        """Revoke every stored token of `scope` and store a new one; Conflict when a setting pins it."""
        if pinned_token(self.settings, scope):
            raise Conflict(f"the {scope} token is set by BRIDGE_{scope.upper()}_TOKEN: change it there")
        now = self.clock.now()
        token = new_token()
        with self.sessions() as session, session.begin():
            session.execute(
                update(Credential)
                .where(Credential.scope == scope, Credential.revoked_at.is_(None))
                .values(revoked_at=now)
            )
            session.add(
                Credential(
                    scope=scope,
                    label=f"rotated by {actor}"[:100],
                    token_sha256=digest(token),
                    created_at=now,
                )
            )
        self.forget()
        return token

    def issue_temporary(self, scope: Scope, label: str, ttl: timedelta, actor: str) -> str:
        """A short-lived extra token (e.g. for `bridge demo`), labelled with who asked."""
        now = self.clock.now()
        token = new_token()
        with self.sessions() as session, session.begin():
            session.add(
                Credential(
                    scope=scope,
                    label=f"{label} ({actor})"[:100],
                    token_sha256=digest(token),
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        self.forget()
        return token

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

"""Who is asking: the bearer token of a request, checked against a scope. One check serves the
webhooks (their source's token, as Bearer or as the password of Basic auth: Alertmanager's
`basic_auth`), the API (the admin token) and the pages (the admin token as the password of Basic
auth).

A browser sends Basic credentials by itself once someone signed in to a page, to any request a
page elsewhere makes it send: so a change through the API takes the token as Bearer only
(`require_bearer`), which a browser never adds on its own. bridge sets no cookies."""

from __future__ import annotations

import base64
import binascii

from flask import request

from bridge.db.models import Scope
from bridge.errors import Unauthenticated
from bridge.web.context import services

ADMIN_ACTOR = "admin"
"""Who the timeline names for an action taken with the admin token."""

READING = frozenset({"GET", "HEAD", "OPTIONS"})
"""The methods that change nothing."""


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


def bearer_token(authorization: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None for anything else (Basic too)."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def authenticated(scope: Scope) -> bool:
    """The request carries a valid token of `scope` (Bearer, or Basic's password)."""
    return services().tokens.check(scope, presented_token(request.headers.get("Authorization")))


def require(scope: Scope, message: str = "missing or wrong API token") -> None:
    """Unauthenticated (401) unless the request carries a valid token of `scope`."""
    if not authenticated(scope):
        raise Unauthenticated(message)


def require_bearer(scope: Scope, message: str) -> None:
    """Unauthenticated (401) unless the request carries a valid token of `scope` as Bearer."""
    if not services().tokens.check(scope, bearer_token(request.headers.get("Authorization"))):
        raise Unauthenticated(message)

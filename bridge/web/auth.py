"""Who is asking, and may they: the person behind a request, their role's rights, CSRF.

A request is made by a person found, in this order, from:

- ``Authorization: Bearer <token>``: the admin token (`BRIDGE_ADMIN_TOKEN` or the generated one)
  is the admin person, handle "admin"; a personal token (``bridge_pat_...``) is its owner;
- ``Authorization: Basic`` with the admin token as password, for reading only (a link followed
  from Zabbix's event menu in a browser that kept that login);
- the session cookie of a console sign-in (`bridge.web.login`).

A change made through the session cookie must carry the session's CSRF token (form field
``csrf_token`` or header ``X-CSRF-Token``): `check_csrf` runs before every request, so no page
elsewhere can make a signed-in browser act. Bearer calls need none: a browser never adds that
header by itself. The webhooks keep their own source tokens (`require`).

The cookie is HttpOnly, SameSite=Lax and Secure when bridge is reached over https; it holds a
random key whose SHA-256 is the session's row, so signing out deletes the row and the cookie
opens nothing any more.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from urllib.parse import quote

from flask import Flask, g, redirect, request
from werkzeug.wrappers import Response

from bridge.db.models import Scope
from bridge.errors import Forbidden, NotFound, Unauthenticated
from bridge.services.people import OpenedSession, SignedIn
from bridge.ticketing.roles import ADMIN_HANDLE, ADMIN_PERSON, Action, Person
from bridge.web.context import services

__all__ = [
    "ADMIN_ACTOR",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "Action",
    "Person",
    "csrf_token",
    "current_person",
    "require_incident_visible",
    "require_person",
]

ADMIN_ACTOR = ADMIN_HANDLE
"""Who the timeline names for an action taken with the admin token."""

READING = frozenset({"GET", "HEAD", "OPTIONS"})
"""The methods that change nothing."""

SESSION_COOKIE = "bridge_session"
LOGIN_CSRF_COOKIE = "bridge_login_csrf"
"""Before signing in there is no session: the login form's CSRF token is also in this cookie
(double submit), so no page elsewhere can sign a browser in to an account of its choosing."""
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
UNAUTHENTICATED = "missing or wrong API token"


# -- tokens in the Authorization header (the webhooks use these too) --------------------------------


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


def require(scope: Scope, message: str = UNAUTHENTICATED) -> None:
    """Unauthenticated (401) unless the request carries a valid token of `scope`."""
    if not authenticated(scope):
        raise Unauthenticated(message)


# -- the person --------------------------------------------------------------------------------


def current_person() -> Person | None:
    """The person making this request (see the module's docstring), or None."""
    if "bridge_person" not in g:
        g.bridge_person = _find_person()
    person: Person | None = g.bridge_person
    return person


def require_person(action: Action | None = None) -> Person:
    """The person making this request; Unauthenticated (401) when nobody is, Forbidden (403)
    when their role does not allow `action`."""
    person = current_person()
    if person is None:
        if (
            request.headers.get("Authorization", "").lower().startswith("basic")
            and request.method not in READING
        ):
            raise Unauthenticated(
                f"{UNAUTHENTICATED}: a change takes a token as `Authorization: Bearer <token>` "
                "(never a browser's Basic login)"
            )
        raise Unauthenticated(UNAUTHENTICATED)
    if action is not None and not person.may(action):
        raise Forbidden(f"{person.handle} ({person.role}) may not {action.value.replace('_', ' ')}")
    return person


def require_incident_visible(person: Person, incident_client: str | None, number: int | None = None) -> None:
    """NotFound (404, as if there were none) when `person` is a viewer and the incident is not
    their client's: a viewer cannot learn that an incident exists by guessing its number."""
    scope = person.client_scope
    if scope is not None and incident_client != scope:
        raise NotFound(f"no incident {number}" if number is not None else "no such incident")


def acting() -> Person:
    """The person of a request an endpoint's permission already let in."""
    return require_person()


def author_of(claimed: str | None) -> str:
    """Who a silence or an override is by: the person acting. Only the admin token, which is
    nobody in particular, may name the author (a script acting for someone)."""
    person = acting()
    if person.handle == ADMIN_HANDLE and claimed:
        return claimed
    return person.handle


def _find_person() -> Person | None:
    authorization = request.headers.get("Authorization")
    if authorization:
        found = services()
        bearer = bearer_token(authorization)
        if bearer is not None:
            if found.tokens.check(Scope.ADMIN, bearer):
                return ADMIN_PERSON
            return found.people.token_person(bearer)
        if request.method in READING and found.tokens.check(Scope.ADMIN, presented_token(authorization)):
            return ADMIN_PERSON
        return None
    signed = signed_in()
    return signed.person if signed is not None else None


def signed_in() -> SignedIn | None:
    """The console sign-in of this request's session cookie, if valid (looked up once)."""
    if "bridge_signed_in" not in g:
        g.bridge_signed_in = services().people.signed_in(request.cookies.get(SESSION_COOKIE))
    found: SignedIn | None = g.bridge_signed_in
    return found


# -- CSRF ----------------------------------------------------------------------------------------


def csrf_token() -> str:
    """The CSRF token a form of this page must send back: the session's, or before signing in
    the login form's (also set as a cookie when this response goes out)."""
    signed = signed_in()
    if signed is not None:
        return signed.csrf_token
    if "bridge_login_csrf" not in g:
        g.bridge_login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    token: str = g.bridge_login_csrf
    return token


def presented_csrf() -> str:
    return request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""


def check_csrf() -> None:
    """Forbidden (403) for a change authenticated by the session cookie without the session's
    CSRF token. Requests with an Authorization header are not authenticated by the cookie."""
    if request.method in READING or request.headers.get("Authorization"):
        return
    if not request.cookies.get(SESSION_COOKIE):
        return
    signed = signed_in()
    if signed is None:
        return  # an expired or unknown session authenticates nothing: the endpoint refuses
    if not hmac.compare_digest(presented_csrf().encode(), signed.csrf_token.encode()):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def check_login_csrf() -> None:
    """The login form's token matches its cookie (double submit); Forbidden otherwise."""
    if signed_in() is not None:
        return  # check_csrf compared it with the session's already
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    presented = presented_csrf()
    if not cookie or not hmac.compare_digest(presented.encode(), cookie.encode()):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


# -- cookies -------------------------------------------------------------------------------------


def set_session_cookie(response: Response, opened: OpenedSession) -> None:
    settings = services().settings
    response.set_cookie(
        SESSION_COOKIE,
        opened.key,
        max_age=int(settings.session_lifetime.total_seconds()),
        secure=settings.cookies_secure,
        httponly=True,
        samesite="Lax",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")


def clear_session_cookie(response: Response) -> None:
    settings = services().settings
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.cookies_secure, httponly=True, samesite="Lax"
    )


def _login_csrf_cookie(response: Response) -> Response:
    token = g.get("bridge_login_csrf")
    if (
        token
        and request.cookies.get(LOGIN_CSRF_COOKIE) != token
        and SESSION_COOKIE not in _set_cookies(response)
    ):
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            secure=services().settings.cookies_secure,
            httponly=True,
            samesite="Lax",
            path="/",
        )
    return response


def _set_cookies(response: Response) -> set[str]:
    return {value.partition("=")[0] for value in response.headers.getlist("Set-Cookie")}


def login_redirect() -> Response:
    """Send a browser to the login page, to come back here after signing in."""
    target = request.full_path if request.query_string else request.path
    return redirect(f"/login?next={quote(target, safe='/')}", 303)


def install(app: Flask) -> None:
    """`csrf_token()` in templates, the CSRF check before every request, the login form's cookie."""
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_person"] = current_person
    app.before_request(check_csrf)
    app.after_request(_login_csrf_cookie)

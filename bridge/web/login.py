"""Signing in to the console and out: ``GET/POST /login``, ``POST /logout``.

A sign-in opens a server-side session (`bridge.services.people`) whose key goes into an HttpOnly,
SameSite=Lax cookie; after it the browser goes back to the page it came from (``next``: a path
of bridge's own, never another site). Failed sign-ins are throttled per account and per address
(429 with Retry-After).
"""

from __future__ import annotations

from flask import Blueprint, make_response, redirect, render_template, request
from werkzeug.wrappers import Response

from bridge.errors import Forbidden, TooManyAttempts, Unauthenticated
from bridge.web.auth import (
    SESSION_COOKIE,
    check_login_csrf,
    clear_session_cookie,
    current_person,
    set_session_cookie,
)
from bridge.web.context import services

blueprint = Blueprint("login", __name__, template_folder="templates")

HOME = "/"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site ("/incidents/4"), else the home page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return HOME
    return target


@blueprint.get("/login")
def login_page() -> Response:
    """The sign-in form (already signed in: straight on to `next`)."""
    target = safe_next(request.args.get("next"))
    if current_person() is not None and request.cookies.get(SESSION_COOKIE):
        return redirect(target, 303)
    return _form(200, target)


@blueprint.post("/login")
def login() -> Response:
    """Check the CSRF token, the user name and password; open a session and set its cookie."""
    check_login_csrf()
    handle = request.form.get("handle", "")
    target = safe_next(request.form.get("next"))
    address = request.remote_addr or "unknown"
    found = services().people
    try:
        opened = found.login(handle, request.form.get("password", ""), address)
    except TooManyAttempts as exc:
        response = _form(429, target, str(exc), handle)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except Unauthenticated as exc:
        return _form(401, target, str(exc), handle)
    found.close_session(request.cookies.get(SESSION_COOKIE))  # a session held before: a new key, always
    response = redirect(target, 303)
    set_session_cookie(response, opened)
    return response


@blueprint.post("/logout")
def logout() -> Response:
    """End the session (its row is deleted) and forget the cookie."""
    if not request.cookies.get(SESSION_COOKIE):
        raise Forbidden("not signed in with a session")
    services().people.close_session(request.cookies.get(SESSION_COOKIE))
    response = redirect("/login", 303)
    clear_session_cookie(response)
    return response


def _form(status: int, target: str, error: str | None = None, handle: str = "") -> Response:
    page = render_template("login.html", next=target, error=error, handle=handle[:100], locale="en")
    response = make_response(page, status)
    response.headers["Cache-Control"] = "no-store"
    return response

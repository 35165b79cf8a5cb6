"""The pages behind a notification mail's Acknowledge and Escalate links (bridge.services.
mail_links): opening a link (GET) shows what it would do and changes nothing; the page's form
(POST, with a CSRF token bound to the link and to this browser's nonce cookie) does it as the
mail's recipient, then shows the incident: the console's page for someone signed in as that
person, else a read-only result page. A link that cannot be used gets a page saying why, with a
4xx status. No session is needed: the signed link is the credential."""

from __future__ import annotations

import secrets

from flask import Blueprint, make_response, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from bridge.errors import LinkRefused
from bridge.services.mail_links import LinkProblem
from bridge.web.auth import current_person
from bridge.web.context import services

blueprint = Blueprint("mail_links", __name__)

NONCE_COOKIE = "bridge_link_nonce"
"""This browser's nonce: the confirmation form's CSRF token is an HMAC of the link and it."""
CONFIRM_FIELD = "link_csrf"

STATUS = {
    LinkProblem.TAMPERED: 400,
    LinkProblem.UNKNOWN: 404,
    LinkProblem.EXPIRED: 410,
    LinkProblem.USED: 410,
    LinkProblem.NOT_YOURS: 403,
    LinkProblem.DISABLED: 403,
    LinkProblem.NOT_ALLOWED: 403,
    LinkProblem.BAD_CSRF: 403,
    LinkProblem.RATE_LIMITED: 429,
}
HEADINGS = {
    LinkProblem.TAMPERED: _l("This link is damaged"),
    LinkProblem.UNKNOWN: _l("This link is unknown"),
    LinkProblem.EXPIRED: _l("This link has expired"),
    LinkProblem.USED: _l("This link was used already"),
    LinkProblem.NOT_YOURS: _l("This link is not yours"),
    LinkProblem.DISABLED: _l("This person may not act any more"),
    LinkProblem.NOT_ALLOWED: _l("This person may not do this any more"),
    LinkProblem.BAD_CSRF: _l("Please open the link again"),
    LinkProblem.RATE_LIMITED: _l("Too many attempts"),
}


@blueprint.get("/mail-link/<token>")
def confirm(token: str) -> Response:
    """What the link would do, with a button to do it; changes nothing."""
    links = services().mail_links
    try:
        view = links.inspect(token, _signed_in_handle())
    except LinkRefused as exc:
        return _refused(exc)
    nonce = request.cookies.get(NONCE_COOKIE) or secrets.token_urlsafe(24)
    page = render_template(
        "console/mail_link.html",
        view=view,
        token=token,
        confirm_token=links.confirm_token(token, nonce),
        confirm_field=CONFIRM_FIELD,
        done=None,
    )
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    if request.cookies.get(NONCE_COOKIE) != nonce:
        response.set_cookie(
            NONCE_COOKIE,
            nonce,
            secure=services().settings.cookies_secure,
            httponly=True,
            samesite="Lax",
            path="/mail-link/",
        )
    return response


@blueprint.post("/mail-link/<token>")
def act(token: str) -> Response:
    """Do what the link says, as its recipient; then the incident."""
    signed_in = _signed_in_handle()
    try:
        outcome = services().mail_links.use(
            token, request.cookies.get(NONCE_COOKIE, ""), request.form.get(CONFIRM_FIELD, ""), signed_in
        )
    except LinkRefused as exc:
        return _refused(exc)
    if signed_in is not None and outcome.acted:
        return redirect(url_for("console.board.incident", number=outcome.view.number), 303)
    response = make_response(
        render_template(
            "console/mail_link.html",
            view=outcome.view,
            token=token,
            confirm_token="",
            confirm_field=CONFIRM_FIELD,
            done="acted" if outcome.acted else "already",
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def _signed_in_handle() -> str | None:
    person = current_person()
    return person.handle if person is not None else None


def _refused(exc: LinkRefused) -> Response:
    problem = LinkProblem(exc.problem)
    page = render_template(
        "console/mail_link_refused.html", problem=problem.value, heading=HEADINGS[problem], reason=str(exc)
    )
    response = make_response(page, STATUS[problem])
    response.headers["Cache-Control"] = "no-store"
    if exc.retry_after:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response

"""People and their tokens: who am I (``/me``) and my own tokens, for everyone; users and every
token, for admins. A token's value is in the answer that creates it and nowhere else, ever."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from bridge.errors import BridgeError, NotFound, PayloadError
from bridge.services.people import IssuedToken, NewUser, TokenInfo
from bridge.ticketing.roles import ADMIN_HANDLE, LOCALES, Role
from bridge.timeutil import iso
from bridge.web import requests as args
from bridge.web.auth import acting, signed_in
from bridge.web.context import services
from bridge.web.serialize import page_json, person_json, user_json

blueprint = Blueprint("users", __name__)


@blueprint.get("/me")
def me() -> Response:
    """The person asking: handle, name, role, client, locale; signed in with the console, also
    the session's `csrf_token` for changes (``X-CSRF-Token``)."""
    body = person_json(acting())
    signed = signed_in() if not request.headers.get("Authorization") else None
    if signed is not None:
        body["csrf_token"] = signed.csrf_token
    return jsonify(body)


@blueprint.get("/me/tokens")
def my_tokens() -> Response:
    """My personal API tokens (never their values)."""
    return jsonify(page_json(services().people.list_tokens(_own_handle(), args.paging()), token_json))


@blueprint.post("/me/tokens")
def create_my_token() -> Response:
    """A new personal token acting as me: its value is shown in this answer only."""
    body = args.json_body()
    issued = services().people.issue_token(
        _own_handle(), args.text(body, "name", required=True), acting().handle
    )
    return _created(issued_json(issued))


@blueprint.delete("/me/tokens/<number:token_id>")
def revoke_my_token(token_id: int) -> Response:
    """Revoke one of my tokens."""
    handle = _own_handle()
    return jsonify(token_json(services().people.revoke_token(token_id, handle, owner=handle)))


@blueprint.post("/me/telegram/link")
def link_my_telegram() -> Response:
    """A one-time code: sending `/start <code>` to the bot links that Telegram account to me."""
    desk = services().telegram
    if desk is None:
        raise NotFound("Telegram is not configured (BRIDGE_TELEGRAM_TOKEN)")
    link = desk.new_link_code(_own_handle())
    response = jsonify(
        {"code": link.code, "command": f"/start {link.code}", "expires_at": iso(link.expires_at)}
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.delete("/me/telegram")
def unlink_my_telegram() -> Response:
    """Forget the Telegram account linked to me."""
    desk = services().telegram
    if desk is None:
        raise NotFound("Telegram is not configured (BRIDGE_TELEGRAM_TOKEN)")
    return jsonify({"unlinked": desk.unlink(_own_handle())})


@blueprint.get("/users")
def list_users() -> Response:
    """Every user, by handle."""
    return jsonify(page_json(services().people.list(args.paging()), user_json))


@blueprint.post("/users")
def create_user() -> Response:
    """Add a user (a rota handle); without a password the user signs in with tokens only."""
    body = args.json_body()
    handle = args.text(body, "handle", required=True, longest=100)
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise PayloadError("password", "must be a string")
    new = NewUser(
        handle=handle,
        name=args.text(body, "name", longest=200) or _rota_name(handle) or handle,
        role=_role(body.get("role", Role.OPERATOR.value)),
        client=args.text(body, "client", longest=200) or None,
        locale=_locale(body.get("locale", "en")),
        password=password,
    )
    services().people.add(new, acting().handle)
    return _created(user_json(services().people.get(handle)))


@blueprint.get("/users/<handle>")
def show_user(handle: str) -> Response:
    """One user and their tokens."""
    found = services().people
    body = user_json(found.get(handle))
    body["tokens"] = [token_json(t) for t in found.list_tokens(handle).items]
    return jsonify(body)


@blueprint.patch("/users/<handle>")
def change_user(handle: str) -> Response:
    """Change name, role, client, locale; ``"disabled": true`` ends their sessions and tokens;
    ``"password"`` sets a new one (and ends their sessions)."""
    body = args.json_body()
    found, actor = services().people, acting().handle
    role = _role(body["role"]) if "role" in body else None
    locale = _locale(body["locale"]) if "locale" in body else None
    name = args.text(body, "name", longest=200) or None
    client = args.text(body, "client", longest=200) or None
    if any(value is not None for value in (role, locale, name, client)):
        found.update(handle, actor, name=name, role=role, client=client, locale=locale)
    disabled = body.get("disabled")
    if disabled is not None and not isinstance(disabled, bool):
        raise PayloadError("disabled", "true or false")
    if disabled is True:
        found.disable(handle, actor)
    elif disabled is False:
        found.enable(handle, actor)
    password = body.get("password")
    if password is not None:
        if not isinstance(password, str):
            raise PayloadError("password", "must be a string")
        found.set_password(handle, password, actor)
    return jsonify(user_json(found.get(handle)))


@blueprint.get("/tokens")
def list_tokens() -> Response:
    """Every personal token (of ``?owner=`` when given), newest first."""
    owner = request.args.get("owner") or None
    return jsonify(page_json(services().people.list_tokens(owner, args.paging()), token_json))


@blueprint.post("/users/<handle>/tokens")
def create_token(handle: str) -> Response:
    """A new token acting as `handle`: its value is shown in this answer only."""
    body = args.json_body()
    issued = services().people.issue_token(handle, args.text(body, "name", required=True), acting().handle)
    return _created(issued_json(issued))


@blueprint.delete("/tokens/<number:token_id>")
def revoke_token(token_id: int) -> Response:
    """Revoke anyone's token."""
    return jsonify(token_json(services().people.revoke_token(token_id, acting().handle)))


def token_json(token: TokenInfo) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "owner": token.owner,
        "created_at": iso(token.created_at),
        "last_used_at": iso(token.last_used_at),
        "revoked_at": iso(token.revoked_at),
    }


def issued_json(issued: IssuedToken) -> dict[str, Any]:
    return {
        "id": issued.id,
        "name": issued.name,
        "owner": issued.owner,
        "token": issued.token,
        "note": "shown once: bridge keeps only its hash",
    }


def _own_handle() -> str:
    person = acting()
    if person.handle == ADMIN_HANDLE:
        raise PayloadError("token", "the admin token belongs to nobody: use /api/users/<handle>/tokens")
    return person.handle


def _rota_name(handle: str) -> str | None:
    try:
        person = services().rota.rota.person(handle)
    except BridgeError:  # a rota that does not load must not stop adding a user
        return None
    return person.name if person is not None else None


def _role(value: object) -> Role:
    try:
        return Role(str(value))
    except ValueError:
        raise PayloadError("role", f"one of {', '.join(r.value for r in Role)}") from None


def _locale(value: object) -> str:
    if value not in LOCALES:
        raise PayloadError("locale", f"one of {', '.join(LOCALES)}")
    return str(value)


def _created(body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = 201
    return response

"""`bridge users`: the people who sign in to the console and their personal API tokens.

A user is a rota handle: `bridge users add ivanov --role operator` takes the name from
rules/rota.yaml, and warns when the handle is not in the rota (such a user can sign in but is
never assigned or paged). Passwords are asked twice without echo (or read from stdin with
``--password-stdin``); a token is printed once and never again.
"""

from __future__ import annotations

import json
import sys

import click

from bridge.cli.context import command_services
from bridge.cli.options import Spelled, actor_option
from bridge.db.queries import Paging
from bridge.errors import BridgeError
from bridge.services.people import MIN_PASSWORD, NewUser
from bridge.services.wiring import Services
from bridge.ticketing.roles import LOCALES, Role
from bridge.timeutil import iso

ALL = Paging(limit=100_000, offset=0)


@click.group()
def users() -> None:
    """People who sign in to the console, their roles and tokens."""


@users.command("add")
@click.argument("handle")
@click.option("--role", type=Spelled([r.value for r in Role]), default=Role.OPERATOR.value, show_default=True)
@click.option("--name", help="Full name (default: the rota's, else the handle).")
@click.option("--client", help="The client a viewer represents (viewers only).")
@click.option("--locale", type=Spelled(list(LOCALES)), default="en", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of asking.")
@click.option("--no-password", is_flag=True, help="No password: the user works with API tokens only.")
@actor_option
def users_add(
    handle: str,
    role: str,
    name: str | None,
    client: str | None,
    locale: str,
    password_stdin: bool,
    no_password: bool,
    actor: str,
) -> None:
    """Add HANDLE (their handle in the rota) with a role."""
    password = None if no_password else _password(password_stdin)
    try:
        with command_services() as services:
            rota_name = _rota_name(services, handle)
            new = NewUser(handle, name or rota_name or handle, Role(role), client, locale, password)
            person = services.people.add(new, actor)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    scope = f" for client {person.client}" if person.client else ""
    click.echo(f"added {person.handle} ({person.name}), {person.role}{scope}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def users_list(as_json: bool) -> None:
    """Every user: handle, name, role, client, whether disabled."""
    try:
        with command_services() as services:
            page = services.people.list(ALL)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    rows = [
        {
            "handle": u.handle,
            "name": u.name,
            "role": str(u.role),
            "client": u.client,
            "locale": u.locale,
            "password": u.password_hash is not None,
            "disabled_at": iso(u.disabled_at),
        }
        for u in page.items
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no users yet: bridge users add HANDLE --role admin")
        return
    for row in rows:
        state = f"disabled {row['disabled_at']}" if row["disabled_at"] else "active"
        client = row["client"] or "-"
        click.echo(f"{row['handle']:<20} {row['name']:<28} {row['role']:<9} {client:<14} {state}")


@users.command("disable")
@click.argument("handle")
@actor_option
def users_disable(handle: str, actor: str) -> None:
    """Refuse HANDLE from now on: their sign-ins end and their tokens stop working."""
    try:
        with command_services() as services:
            services.people.disable(handle, actor)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"disabled {handle}")


@users.command("enable")
@click.argument("handle")
@actor_option
def users_enable(handle: str, actor: str) -> None:
    """Let a disabled HANDLE in again (their revoked tokens stay revoked)."""
    try:
        with command_services() as services:
            services.people.enable(handle, actor)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"enabled {handle}")


@users.command("passwd")
@click.argument("handle")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of asking.")
@actor_option
def users_passwd(handle: str, password_stdin: bool, actor: str) -> None:
    """Set HANDLE's password; their sign-ins end."""
    password = _password(password_stdin)
    try:
        with command_services() as services:
            services.people.set_password(handle, password, actor)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"password of {handle} set; their sessions ended")


@users.group("token")
def token() -> None:
    """Personal API tokens: they act as their owner."""


@token.command("create")
@click.argument("handle")
@click.option("--name", required=True, help="What the token is for (e.g. 'grafana panel').")
@actor_option
def token_create(handle: str, name: str, actor: str) -> None:
    """Make a token acting as HANDLE and print it (once: only its hash is kept)."""
    try:
        with command_services() as services:
            issued = services.people.issue_token(handle, name, actor)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(issued.token)
    click.echo(f"token {issued.id} ({issued.name}) of {issued.owner}: shown once, keep it now", err=True)


@token.command("list")
@click.argument("handle", required=False)
def token_list(handle: str | None) -> None:
    """Every token (of HANDLE), newest first: id, owner, name, created, last used, revoked."""
    try:
        with command_services() as services:
            tokens = services.people.list_tokens(handle).items
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    if not tokens:
        click.echo("no tokens")
    for t in tokens:
        state = f"revoked {iso(t.revoked_at)}" if t.revoked_at else "active"
        used = iso(t.last_used_at) or "never used"
        click.echo(f"{t.id:>5}  {t.owner:<20} {t.name:<24} created {iso(t.created_at)}  {used}  {state}")


@token.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**63 - 1))
@actor_option
def token_revoke(token_id: int, actor: str) -> None:
    """Revoke token TOKEN_ID: it stops working at once."""
    try:
        with command_services() as services:
            revoked = services.people.revoke_token(token_id, actor)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"revoked token {revoked.id} ({revoked.name}) of {revoked.owner}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt(
        f"Password (at least {MIN_PASSWORD} characters)", hide_input=True, confirmation_prompt=True
    )
    return value


def _rota_name(services: Services, handle: str) -> str | None:
    """The name the rota gives `handle`; a warning when it is not there (or the rota does not load)."""
    try:
        person = services.rota.rota.person(handle)
    except BridgeError as exc:
        click.echo(f"warning: the rota does not load, {handle} is not linked to it:\n{exc}", err=True)
        return None
    if person is None:
        click.echo(
            f"warning: {handle} is not in the rota ({services.settings.rules_dir}/rota.yaml): they can "
            "sign in, but are never assigned or paged",
            err=True,
        )
        return None
    return person.name

"""`bridge tokens` and `bridge config`: the bearer tokens, and the settings in effect."""

from __future__ import annotations

import click

from bridge.cli.context import command_services
from bridge.cli.options import Spelled, actor_option, load_settings
from bridge.db.models import Scope
from bridge.errors import BridgeError
from bridge.settings import SPECS, redacted


@click.group()
def tokens() -> None:
    """Bearer tokens of the webhooks and the API."""


@tokens.command("rotate")
@click.argument("scope", type=Spelled([s.value for s in Scope]))
@actor_option
def tokens_rotate(scope: str, actor: str) -> None:
    """Revoke the stored tokens of SCOPE and print a new one (shown once)."""
    try:
        with command_services() as services:
            click.echo(services.tokens.rotate(Scope(scope), actor))
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.option("--markdown", is_flag=True, help="Print the README's configuration table.")
def config(markdown: bool) -> None:
    """Show the settings bridge reads from the environment."""
    if markdown:
        click.echo("| variable | default | what |\n|---|---|---|")
        for spec in SPECS:
            click.echo(f"| `{spec.env}` | {f'`{spec.default}`' if spec.default else ''} | {spec.help} |")
        return
    settings = load_settings()
    for spec in SPECS:
        value = getattr(settings, spec.attr)
        shown = redacted(str(value)) if spec.secret and value else value
        click.echo(f"{spec.env:<28} {shown}")

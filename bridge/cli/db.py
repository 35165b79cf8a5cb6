"""`bridge db`: the database schema."""

from __future__ import annotations

import click

from bridge.cli.options import load_settings
from bridge.db.migrate import head_revision, revision_of, upgrade_url


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations."""
    settings = load_settings()
    before, after = upgrade_url(settings.database_url, revision, settings.db_timeout)
    click.echo(f"database at {after} (was {before or 'empty'})")


@db.command("current")
def db_current() -> None:
    """Print the schema revision."""
    settings = load_settings()
    click.echo(
        f"{revision_of(settings.database_url, settings.db_timeout) or 'empty'} (latest {head_revision()})"
    )

"""`bridge db`: the database schema."""

from __future__ import annotations

from typing import IO

import click

from bridge.cli.context import command_services
from bridge.cli.history import stored_history
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


@db.command("prune")
@click.option("--dry-run", is_flag=True, help="Print what would be removed, remove nothing.")
@click.option(
    "--export",
    "archive",
    type=click.File("w"),
    help="First write the deliveries received before the intake retention as a trace (JSON lines, "
    "as `bridge intake export`), for archives.",
)
def db_prune(dry_run: bool, archive: IO[str] | None) -> None:
    """Remove what the retention settings (BRIDGE_RETAIN_*) let go, by table, with sizes: done
    deliveries, resolved alerts no open incident needs, sent notifications, finished outbox jobs.
    Incidents and timelines are kept; deliveries parked as failed too (`bridge intake drop-parked`)."""
    settings = load_settings()
    with command_services(settings) as services:
        pruner = services.pruner
        if archive is not None and pruner.keep.intake is not None:
            written = stored_history(settings).export(
                None, services.clock.now() - pruner.keep.intake, archive
            )
            click.echo(f"exported {written} deliveries", err=True)
        result = pruner.run(dry_run=dry_run)
    if result.busy:
        raise click.ClickException(
            "another process is pruning right now (the workers' periodic prune): try later"
        )
    click.echo(f"{'table':<14} {'cutoff':<26} {'rows':>10} {'bytes':>14}")
    for table in result.tables:
        cutoff = table.cutoff.isoformat(timespec="seconds") if table.cutoff else "-"
        weeks = f"  ({table.partitions} weekly partitions)" if table.partitions else ""
        click.echo(f"{table.table:<14} {cutoff:<26} {table.rows:>10} {table.bytes:>14}{weeks}")
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {result.rows} rows, {result.bytes} bytes in {result.seconds:.1f}s")

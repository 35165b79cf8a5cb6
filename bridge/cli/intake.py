"""`bridge intake`: export the intake log as a trace, retry deliveries parked as failed."""

from __future__ import annotations

from typing import IO

import click

from bridge.cli.context import command_services
from bridge.cli.history import stored_history
from bridge.cli.options import RowNumber, actor_option, duration, instant, load_settings
from bridge.clock import SystemClock
from bridge.errors import BridgeError


@click.group()
def intake() -> None:
    """The intake log of deliveries."""


@intake.command("export")
@click.option("--since", "since_text", help="How far back from now, e.g. 7d (default: everything).")
@click.option("--from", "from_text", help="ISO 8601 start (instead of --since).")
@click.option("--until", "until_text", help="ISO 8601 end (default: now).")
@click.option("--output", "-o", type=click.File("w"), default="-", help="File to write (default: stdout).")
def intake_export(
    since_text: str | None, from_text: str | None, until_text: str | None, output: IO[str]
) -> None:
    """Write the intake log as a trace: JSON lines of {source, received_at, body}, in arrival
    order, ready for `bridge rules replay --input` anywhere."""
    if since_text and from_text:
        raise click.UsageError("give --since or --from, not both")
    start = instant(from_text) if from_text else None
    if since_text:
        start = SystemClock().now() - duration(since_text)
    until = instant(until_text) if until_text else None
    settings = load_settings()
    try:
        written = stored_history(settings).export(start, until, output)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"exported {written} deliveries", err=True)


@intake.command("retry")
@click.argument("ids", nargs=-1, type=RowNumber())
@click.option("--all", "every", is_flag=True, help="Every delivery parked as failed.")
@actor_option
def intake_retry(ids: tuple[int, ...], every: bool, actor: str) -> None:
    """Replay deliveries parked as failed (see GET /api/intake?status=failed): they go back to
    pending with their attempts reset, and through the rules again."""
    if bool(ids) == every:
        raise click.UsageError("name the deliveries to retry, or give --all")
    settings = load_settings()
    with command_services(settings) as services:
        retried = services.intake.retry(list(ids) or None, actor)
    for missing in sorted(set(ids) - set(retried.ids)):
        click.echo(f"delivery {missing} is not parked as failed: left as it is", err=True)
    if not retried.ids:
        click.echo("nothing to retry")
        return
    where = "bridge serve's worker takes them up"
    if settings.redis_url:
        where = "queued for the workers" if retried.handed_over else "Redis is down: the sweeper queues them"
    click.echo(f"{len(retried.ids)} deliveries back to pending ({where}): {', '.join(map(str, retried.ids))}")


@intake.command("drop-parked")
@click.argument("ids", nargs=-1, type=RowNumber())
@click.option("--all", "every", is_flag=True, help="Every delivery parked as failed.")
@actor_option
def intake_drop_parked(ids: tuple[int, ...], every: bool, actor: str) -> None:
    """Delete deliveries parked as failed (see GET /api/intake?status=failed) for good. Retention
    keeps them until retried or dropped; export them first (`bridge intake export`) to keep a copy."""
    if bool(ids) == every:
        raise click.UsageError("name the deliveries to drop, or give --all")
    settings = load_settings()
    with command_services(settings) as services:
        dropped = services.intake.drop_parked(list(ids) or None, actor)
    for missing in sorted(set(ids) - set(dropped)):
        click.echo(f"delivery {missing} is not parked as failed: left as it is", err=True)
    if not dropped:
        click.echo("nothing to drop")
        return
    click.echo(f"{len(dropped)} parked deliveries dropped: {', '.join(map(str, dropped))}")

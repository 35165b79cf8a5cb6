"""`bridge rules tune`: what the stored history (or a trace) says the holds and maintenance
windows of the rules should be, a proposed patch, and with --against its replay."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from bridge.cli.history import stored_history
from bridge.cli.options import duration, instant, load_rules_or_exit, load_settings
from bridge.errors import BridgeError
from bridge.replay.text import render as render_replay
from bridge.replay.trace import Recorded, read_trace
from bridge.replay.tune import tune
from bridge.replay.tune_text import render


@click.command("tune")
@click.option("--since", "since_text", help="How far back from now, e.g. 28d (default: 28d).")
@click.option("--from", "from_text", help="ISO 8601 start (instead of --since).")
@click.option("--until", "until_text", help="ISO 8601 end (default: now, or the end of the trace).")
@click.option(
    "--rules", "directory", type=click.Path(path_type=Path), help="Current rules (default: BRIDGE_RULES_DIR)."
)
@click.option(
    "--input",
    "input_file",
    type=click.File("r"),
    help="Read a trace (JSON lines, see `bridge intake export`) instead of the database; '-' for stdin.",
)
@click.option(
    "--timezone", help="Time zone of weekly patterns and proposed windows (default: BRIDGE_TIMEZONE)."
)
@click.option("--against", is_flag=True, help="Replay the proposed patch against the current rules.")
@click.option("--write-patch", type=click.Path(path_type=Path), help="Write the proposed patch to this file.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--limit", default=15, show_default=True, help="Alert names shown in the text report.")
def rules_tune(
    since_text: str | None,
    from_text: str | None,
    until_text: str | None,
    directory: Path | None,
    input_file: IO[str] | None,
    timezone: str | None,
    against: bool,
    write_patch: Path | None,
    as_json: bool,
    limit: int,
) -> None:
    """Per rule and alert name: how long episodes last, what each candidate `for:` would have
    kept quiet, how often they recur and flap; names no rule takes; hosts that alert in the same
    hours week after week. Proposes a rules patch (YAML with comments saying why)."""
    if since_text and from_text:
        raise click.UsageError("give --since or --from, not both")
    until = instant(until_text) if until_text else None
    start = instant(from_text) if from_text else None
    if since_text or (start is None and input_file is None):
        start = datetime.now().astimezone() - duration(since_text or "28d")
    rules = load_rules_or_exit(directory)
    settings = load_settings()
    zone = timezone or settings.timezone
    if input_file is not None:
        trace = list(_within(read_trace(input_file, input_file.name), start, until))

        def history() -> Iterable[Recorded]:
            return trace
    else:
        stored = stored_history(settings)
        end = until or datetime.now().astimezone()

        def history() -> Iterable[Recorded]:
            return stored.deliveries(start, end)

    try:
        report, comparison = tune(history, rules, zone, against=against)
    except (BridgeError, KeyError) as exc:  # KeyError: an unknown time zone
        raise click.ClickException(str(exc)) from None
    if write_patch is not None:
        write_patch.write_text(report.patch, encoding="utf-8")
    if as_json:
        body = report.as_json()
        if comparison is not None:
            body["against"] = {
                "patched": comparison.patched.as_json(),
                "current": comparison.current.as_json(),
            }
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(render(report, limit))
    if write_patch is not None:
        click.echo(f"patch written to {write_patch}")
    if comparison is not None:
        click.echo("the patch replayed against the current rules:")
        click.echo(render_replay(comparison.patched, comparison.current, limit))


def _within(
    deliveries: Iterable[Recorded], start: datetime | None, until: datetime | None
) -> Iterator[Recorded]:
    for recorded in deliveries:
        if (start is None or recorded.received_at >= start) and (
            until is None or recorded.received_at < until
        ):
            yield recorded

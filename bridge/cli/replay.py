"""`bridge rules replay`: stored history, or a recorded trace, through rules in simulated time,
side by side with what happened."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import IO

import click

from bridge.cli.history import stored_history
from bridge.cli.options import duration, instant, load_rules_or_exit, load_settings
from bridge.errors import BridgeError
from bridge.replay.history import StoredHistory
from bridge.replay.replayer import Replay, Summary
from bridge.replay.shares import ReplaySpec, reads_aside, share_count, why_hosts_meet
from bridge.replay.text import render
from bridge.replay.trace import parse_line
from bridge.settings import Settings


@click.command("replay")
@click.option("--since", "since_text", help="How far back from now, e.g. 7d or 12h (default: 7d).")
@click.option("--from", "from_text", help="ISO 8601 start (instead of --since).")
@click.option("--until", "until_text", help="ISO 8601 end (default: now, or the end of the trace).")
@click.option(
    "--rules",
    "directory",
    type=click.Path(path_type=Path),
    help="Candidate rules (default: BRIDGE_RULES_DIR).",
)
@click.option(
    "--against",
    type=click.Path(path_type=Path),
    help="Compare with these rules instead of what the database recorded.",
)
@click.option(
    "--input",
    "input_file",
    type=click.File("r"),
    help="Replay a trace (JSON lines, see `bridge intake export`) instead of the database; '-' for stdin.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--limit", default=20, show_default=True, help="Incidents listed in the text report.")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Processes to replay the database with, each taking a share of the hosts (default: one "
    "per CPU for a long history). Used only when the rules keep hosts apart; else a long history "
    "is read and parsed by a second process unless --jobs is 1. --input uses one.",
)
def rules_replay(
    since_text: str | None,
    from_text: str | None,
    until_text: str | None,
    directory: Path | None,
    against: Path | None,
    input_file: IO[str] | None,
    as_json: bool,
    limit: int,
    progress: bool | None,
    jobs: int | None,
) -> None:
    """Run stored alert history (or a recorded trace) through a rules directory in simulated
    time and print what it would have done, side by side with what actually happened."""
    if since_text and from_text:
        raise click.UsageError("give --since or --from, not both")
    until = instant(until_text) if until_text else None
    start = instant(from_text) if from_text else None
    if since_text or (start is None and input_file is None):
        start = datetime.now().astimezone() - duration(since_text or "7d")
    candidate_rules = load_rules_or_exit(directory)
    label = "candidate" if directory else "live rules"
    show = sys.stderr.isatty() if progress is None else progress
    baseline: Summary | None = None
    try:
        if input_file is not None:
            replays = [Replay(candidate_rules, label, refuse_redeliveries=True)]
            if against is not None:
                replays.append(Replay(load_rules_or_exit(against), str(against), refuse_redeliveries=True))
            _replay_trace(input_file, replays, start, until, show)
            summaries = [r.finish(until) for r in replays]
        else:
            settings = load_settings()
            history = stored_history(settings)
            silences = history.silences()
            specs = [ReplaySpec(candidate_rules, label, silences)]
            if against is not None:
                specs.append(ReplaySpec(load_rules_or_exit(against), str(against), silences))
            until = until or datetime.now().astimezone()
            summaries = _replay_database(history, specs, start, until, show, jobs)
            if len(summaries) == 1:
                baseline = history.recorded(start, until)
        candidate = summaries[0]
        if len(summaries) > 1:
            baseline = summaries[1]
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        body = candidate.as_json()
        body["rules_version"] = candidate_rules.version
        if baseline is not None:
            body["baseline"] = baseline.as_json()
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"rules from {directory or Settings.from_env().rules_dir}/, version {candidate_rules.version}")
    click.echo(render(candidate, baseline, limit))


def _replay_trace(
    trace: IO[str], replays: list[Replay], start: datetime | None, until: datetime | None, show: bool
) -> None:
    size = _size_of(trace)
    with click.progressbar(length=size or 1, label="replaying", file=sys.stderr, hidden=not show) as bar:
        for number, line in enumerate(trace, start=1):
            bar.update(len(line))
            if not line.strip():
                continue
            recorded = parse_line(line, f"{trace.name}:{number}")
            if (start is not None and recorded.received_at < start) or (
                until is not None and recorded.received_at >= until
            ):
                continue
            for replay in replays:
                replay.feed(recorded)


def _replay_database(
    history: StoredHistory,
    specs: list[ReplaySpec],
    start: datetime | None,
    until: datetime,
    show: bool,
    jobs: int | None,
) -> list[Summary]:
    total = history.count(start, until)
    shares = share_count(specs, total, jobs)
    if jobs is not None and jobs > 1 and shares == 1:
        why = next(w for w in (why_hosts_meet(s.rules) for s in specs) if w)
        click.echo(f"replaying on one process: {why}", err=True)
    with click.progressbar(length=total or 1, label="replaying", file=sys.stderr, hidden=not show) as bar:
        shown = 0

        def advance(done: int) -> None:
            nonlocal shown
            bar.update(done - shown)
            shown = done

        read_aside = reads_aside(shares, total, jobs)
        return history.replay(specs, start, until, shares, advance, read_aside=read_aside)


def _size_of(stream: IO[str]) -> int:
    try:
        return Path(stream.name).stat().st_size
    except (OSError, TypeError):
        return 0

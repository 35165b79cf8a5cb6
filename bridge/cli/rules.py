"""`bridge rules ...`: check and explain rules here; `test` and `replay` live in their own modules
(`bridge.cli.ruletest`, `bridge.cli.replay`), imported only when they run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import IO

import click

from bridge.cli.lazy import LazyGroup
from bridge.cli.options import instant, load_rules_or_exit
from bridge.dedup.explain import explain
from bridge.dedup.summary import describe_ruleset
from bridge.errors import PayloadError
from bridge.settings import Settings
from bridge.sources.document import alerts_in


@click.group(
    cls=LazyGroup,
    lazy={
        "test": "bridge.cli.ruletest:rules_test",
        "replay": "bridge.cli.replay:rules_replay",
        "tune": "bridge.cli.tune:rules_tune",
    },
)
def rules() -> None:
    """Check, test, replay, tune and explain rules files."""


@rules.command("check")
@click.argument("directory", required=False, type=click.Path(path_type=Path))
def rules_check(directory: Path | None) -> None:
    """Validate a rules directory (default: BRIDGE_RULES_DIR) and print what it holds; exit 1
    on any mistake, each reported as file:line: reason. Usable in your own CI."""
    directory = directory or Settings.from_env().rules_dir
    ruleset = load_rules_or_exit(directory)
    click.echo("\n".join(describe_ruleset(ruleset, str(directory))))


@rules.command("explain")
@click.argument("alert_file", type=click.File("r"))
@click.option(
    "--rules",
    "directory",
    type=click.Path(path_type=Path),
    help="Rules directory (default: BRIDGE_RULES_DIR).",
)
@click.option("--at", "at_text", help="ISO 8601 time to judge maintenance windows at (default: now).")
def rules_explain(alert_file: IO[str], directory: Path | None, at_text: str | None) -> None:
    """Which rule matches each alert of ALERT_FILE and why every earlier rule did not.

    ALERT_FILE ('-' for stdin) holds an Alertmanager webhook body, a single Alertmanager alert
    (with `labels`), a bridge.zabbix.v1 body, or one line of a trace."""
    at = instant(at_text) if at_text else datetime.now().astimezone()
    ruleset = load_rules_or_exit(directory)
    try:
        alerts = alerts_in(alert_file.read(), at)
    except PayloadError as exc:
        raise click.ClickException(f"{alert_file.name}: {exc}") from None
    for number, alert in enumerate(alerts):
        if number:
            click.echo("")
        click.echo("\n".join(explain(ruleset, alert, at)))

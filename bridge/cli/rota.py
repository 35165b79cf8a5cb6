"""`bridge rota check`: validate the rota file, without touching the database."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bridge.errors import RulesError
from bridge.settings import Settings
from bridge.ticketing.rota_loader import load_rota_file, rota_path


@click.group()
def rota() -> None:
    """The on-duty rota file (rota.yaml in BRIDGE_RULES_DIR)."""


@rota.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rota_check(path: Path | None) -> None:
    """Validate a rota file (default: BRIDGE_RULES_DIR/rota.yaml); exit 1 on any mistake."""
    settings = Settings.from_env()
    path = path or rota_path(settings.rules_dir)
    try:
        found = load_rota_file(path, settings.zone)
    except RulesError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(
        f"{path}: {len(found.people)} people, {len(found.teams)} teams, {len(found.clients)} clients, "
        f"{len(found.schedules)} schedules, {len(found.policies)} escalation policies, "
        f"version {found.version}"
    )

"""The rota and report commands of `bridge`: who is on duty, the rota file, the SLA report.
Registered on the main command by `bridge.cli`; thin, like the rest: parse, call one service, print."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bridge.errors import BridgeError, RulesError
from bridge.settings import Settings


def _settings() -> Settings:
    from bridge.cli.main import _settings as read

    return read()


def _database() -> Any:
    from bridge.cli.main import _database as open_database

    return open_database()


def _rota() -> Any:
    from bridge.services.live_rota import LiveRota

    settings = _settings()
    try:
        return LiveRota(settings.rules_dir, settings.zone).rota
    except RulesError as exc:
        raise click.ClickException(f"rota refused:\n{exc}") from None


def _when(text: str | None) -> Any:
    from bridge.clock import SystemClock
    from bridge.timeutil import parse_instant

    if not text:
        return SystemClock().now()
    try:
        return parse_instant(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 time with a zone") from None


@click.command()
@click.option("--at", "at_text", help="ISO 8601 time with a zone (default: now).")
@click.option("--schedule", help="Only this schedule.")
@click.option("--week", is_flag=True, help="Print the coming week's shifts instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def oncall(at_text: str | None, schedule: str | None, week: bool, as_json: bool) -> None:
    """Who is on duty (per schedule) and who would own a new incident of each client."""
    from datetime import timedelta

    from bridge.services import oncall as service
    from bridge.web.serialize import on_duty_json

    rota = _rota()
    at = _when(at_text)

    def local(instant: Any) -> str:
        return str(instant.astimezone(rota.tz).strftime("%a %Y-%m-%d %H:%M"))

    try:
        with _database() as sessions, sessions() as session:
            if week:
                found = service.coming_shifts(session, rota, at, at + timedelta(days=7), schedule)
                if as_json:
                    body = {n: [on_duty_json(n, s, rota) for s in spans] for n, spans in found.items()}
                    click.echo(json.dumps(body, indent=2))
                    return
                click.echo(f"Shifts from {local(at)} for a week ({rota.tz}):")
                for name, spans in found.items():
                    click.echo(f"{name}:")
                    for span in spans:
                        mark = "  (override)" if span.override else ""
                        click.echo(
                            f"  {local(span.shift_start)} - {local(span.shift_end)}  "
                            f"{rota.display(span.person)}{mark}"
                        )
                    if not spans:
                        click.echo("  nobody")
                return
            duties = service.on_duty(session, rota, at, schedule)
            extra = service.overrides(session, at)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    owners = {c or "(no client)": rota.responsible_for(c, at, extra) for c in [*rota.clients, None]}
    if as_json:
        click.echo(
            json.dumps(
                {
                    "schedules": [on_duty_json(d.schedule, d.duty, rota) for d in duties],
                    "responsible": {
                        c: None if o is None else {"person": o.person, "why": o.why}
                        for c, o in owners.items()
                    },
                },
                indent=2,
            )
        )
        return
    click.echo(f"On duty at {local(at)} ({rota.tz}), rota {rota.version}:")
    for item in duties:
        if item.duty is None:
            click.echo(f"  {item.schedule:<18} nobody")
            continue
        duty = item.duty
        mark = " (override)" if duty.override else ""
        click.echo(
            f"  {item.schedule:<18} {rota.display(duty.person):<34} "
            f"{local(duty.shift_start)} - {local(duty.shift_end)}{mark}"
        )
    if schedule is None:
        click.echo("A new incident now goes to:")
        for client, owner in owners.items():
            shown = "nobody" if owner is None else f"{rota.display(owner.person)}: {owner.why}"
            click.echo(f"  {client:<18} {shown}")


@click.group()
def rota() -> None:
    """The on-duty rota file (rota.yaml in BRIDGE_RULES_DIR)."""


@rota.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def rota_check(path: Path | None) -> None:
    """Validate a rota file (default: BRIDGE_RULES_DIR/rota.yaml); exit 1 on any mistake."""
    from bridge.ticketing.rota_loader import load_rota_file, rota_path

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


@click.group()
def reports() -> None:
    """Reports."""


@reports.command("sla")
@click.option("--from", "start_text", help="ISO 8601 time (default: 30 days before --to).")
@click.option("--to", "end_text", help="ISO 8601 time (default: now).")
@click.option("--client", help="Only this client.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def reports_sla(start_text: str | None, end_text: str | None, client: str | None, as_json: bool) -> None:
    """Per client and priority: count, time to acknowledge and resolve (median, p90), breaches."""
    from datetime import timedelta

    from bridge.services.reports import sla_report
    from bridge.timeutil import format_duration
    from bridge.web.serialize import sla_row_json

    found_rota = _rota()
    end = _when(end_text)
    start = _when(start_text) if start_text else end - timedelta(days=30)
    with _database() as sessions, sessions() as session:
        rows = sla_report(session, found_rota, start, end, client)
    if as_json:
        click.echo(json.dumps([sla_row_json(r) for r in rows], indent=2))
        return

    def shown(seconds: float | None) -> str:
        return "-" if seconds is None else format_duration(timedelta(seconds=round(seconds)))

    click.echo(f"SLA from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC (service time)")
    click.echo(
        f"{'client':<14} {'pri':<3} {'count':>5}  {'ack median':>10} {'ack p90':>9}  "
        f"{'res median':>10} {'res p90':>9}  breaches (ack/resolve)"
    )
    for row in rows:
        click.echo(
            f"{row.client:<14} {row.priority:<3} {row.count:>5}  {shown(row.ack_median):>10} "
            f"{shown(row.ack_p90):>9}  {shown(row.resolve_median):>10} {shown(row.resolve_p90):>9}  "
            f"{row.ack_breaches}/{row.resolve_breaches}"
        )
        for breach in row.breaches:
            click.echo(
                f"    #{breach.number} {breach.target} due {breach.due_at:%Y-%m-%d %H:%M} UTC: {breach.title}"
            )
    if not rows:
        click.echo("(no incidents opened in this period)")

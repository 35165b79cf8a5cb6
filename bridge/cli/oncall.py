"""`bridge oncall` and `bridge reports sla`: who is on duty, the SLA report."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click

from bridge.cli.context import command_services
from bridge.cli.options import in_zone, moment
from bridge.clock import SystemClock
from bridge.errors import BridgeError
from bridge.services.oncall import ComingShifts, OnCallNow
from bridge.services.reports import SlaReport
from bridge.ticketing.rota import Rota
from bridge.timeutil import format_duration
from bridge.web.serialize import on_duty_json, shifts_json, sla_row_json

WEEK = timedelta(days=7)


@click.command()
@click.option(
    "--at",
    "at_moment",
    type=moment,
    metavar="TIME",
    help="ISO 8601 time; without an offset, wall-clock time in the rota's time zone (default: now).",
)
@click.option("--schedule", help="Only this schedule.")
@click.option("--week", is_flag=True, help="Print the coming week's shifts instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def oncall(at_moment: datetime | None, schedule: str | None, week: bool, as_json: bool) -> None:
    """Who is on duty (per schedule) and who would own a new incident of each client."""
    try:
        with command_services() as services:
            at = in_zone(at_moment, services.rota.rota.tz) if at_moment else SystemClock().now()
            if week:
                _print_shifts(services.oncall.shifts(at, at + WEEK, schedule), at, as_json)
                return
            now = services.oncall.now(at, schedule)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    _print_on_duty(now, schedule, as_json)


def _print_shifts(found: ComingShifts, at: datetime, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(shifts_json(found), indent=2))
        return
    rota = found.rota
    click.echo(f"Shifts from {_local(rota, at)} for a week ({rota.tz}):")
    for name, spans in found.shifts.items():
        click.echo(f"{name}:")
        for span in spans:
            mark = "  (override)" if span.override else ""
            click.echo(
                f"  {_local(rota, span.shift_start)} - {_local(rota, span.shift_end)}  "
                f"{rota.display(span.person)}{mark}"
            )
        if not spans:
            click.echo("  nobody")


def _print_on_duty(now: OnCallNow, schedule: str | None, as_json: bool) -> None:
    rota = now.rota
    owners = {client or "(no client)": owner for client, owner in now.responsible.items()}
    if as_json:
        body = {
            "schedules": [on_duty_json(d.schedule, d.duty, rota) for d in now.duties],
            "responsible": {
                c: None if o is None else {"person": o.person, "why": o.why} for c, o in owners.items()
            },
        }
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"On duty at {_local(rota, now.at)} ({rota.tz}), rota {rota.version}:")
    for item in now.duties:
        if item.duty is None:
            click.echo(f"  {item.schedule:<18} nobody")
            continue
        duty = item.duty
        mark = " (override)" if duty.override else ""
        click.echo(
            f"  {item.schedule:<18} {rota.display(duty.person):<34} "
            f"{_local(rota, duty.shift_start)} - {_local(rota, duty.shift_end)}{mark}"
        )
    if schedule is None:
        click.echo("A new incident now goes to:")
        for client, owner in owners.items():
            shown = "nobody" if owner is None else f"{rota.display(owner.person)}: {owner.why}"
            click.echo(f"  {client:<18} {shown}")


def _local(rota: Rota, instant_: datetime) -> str:
    return str(instant_.astimezone(rota.tz).strftime("%a %Y-%m-%d %H:%M"))


@click.group()
def reports() -> None:
    """Reports."""


@reports.command("sla")
@click.option(
    "--from",
    "start_moment",
    type=moment,
    metavar="TIME",
    help="ISO 8601 time; without an offset, in the rota's time zone (default: 30 days before --to).",
)
@click.option(
    "--to", "end_moment", type=moment, metavar="TIME", help="ISO 8601 time, as --from (default: now)."
)
@click.option("--client", help="Only this client.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def reports_sla(
    start_moment: datetime | None, end_moment: datetime | None, client: str | None, as_json: bool
) -> None:
    """Per client and priority: count, time to acknowledge and resolve (median, p90), breaches."""
    try:
        with command_services() as services:
            zone = services.rota.rota.tz
            start = in_zone(start_moment, zone) if start_moment else None
            end = in_zone(end_moment, zone) if end_moment else None
            report = services.reports.sla(start, end, client)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps([sla_row_json(r) for r in report.rows], indent=2))
        return
    _print_sla(report)


def _print_sla(report: SlaReport) -> None:
    def shown(seconds: float | None) -> str:
        return "-" if seconds is None else format_duration(timedelta(seconds=round(seconds)))

    click.echo(f"SLA from {report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC (service time)")
    click.echo(
        f"{'client':<14} {'pri':<3} {'count':>5}  {'ack median':>10} {'ack p90':>9}  "
        f"{'res median':>10} {'res p90':>9}  breaches (ack/resolve)"
    )
    for row in report.rows:
        click.echo(
            f"{row.client:<14} {row.priority:<3} {row.count:>5}  {shown(row.ack_median):>10} "
            f"{shown(row.ack_p90):>9}  {shown(row.resolve_median):>10} {shown(row.resolve_p90):>9}  "
            f"{row.ack_breaches}/{row.resolve_breaches}"
        )
        for breach in row.breaches:
            click.echo(
                f"    #{breach.number} {breach.target} due {breach.due_at:%Y-%m-%d %H:%M} UTC: {breach.title}"
            )
    if not report.rows:
        click.echo("(no incidents opened in this period)")

"""`bridge oncall`: who is on duty."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import click

from bridge.cli.context import command_services
from bridge.cli.options import in_zone, moment
from bridge.clock import SystemClock
from bridge.errors import BridgeError
from bridge.services.oncall import ComingShifts, OnCallNow
from bridge.ticketing.rota import Rota
from bridge.web.serialize import on_duty_json, shifts_json

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

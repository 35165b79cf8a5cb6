"""`bridge reports sla|noise|proactive`: the reports of a period, as text for people, `--json` for
scripts or `--csv` for a spreadsheet (the same figures as the API's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import click

from bridge.cli.context import command_services
from bridge.cli.options import in_zone, moment
from bridge.errors import BridgeError
from bridge.services.noise import Counted, NoiseReport
from bridge.services.proactive import ProactiveReport
from bridge.services.reports import SlaReport
from bridge.services.wiring import Services
from bridge.timeutil import format_duration
from bridge.web.report_format import noise_csv, noise_json, proactive_csv, proactive_json, sla_csv
from bridge.web.serialize import sla_row_json

F = TypeVar("F", bound=Callable[..., Any])
R = TypeVar("R")


@click.group()
def reports() -> None:
    """Reports: the SLA report, the noise report and the proactive share."""


def _period_options(command: F) -> F:
    """--from, --to, --client, --json, --csv: what every report takes."""
    options = [
        click.option(
            "--from",
            "start_moment",
            type=moment,
            metavar="TIME",
            help="ISO 8601 time; without an offset, in the rota's time zone (default: 30 days before --to).",
        ),
        click.option(
            "--to", "end_moment", type=moment, metavar="TIME", help="ISO 8601 time, as --from (default: now)."
        ),
        click.option("--client", help="Only this client."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON."),
        click.option("--csv", "as_csv", is_flag=True, help="Print CSV (the API's ?format=csv)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run(
    start_moment: datetime | None,
    end_moment: datetime | None,
    make: Callable[[Services, datetime | None, datetime | None], R],
) -> R:
    """Call one report service with the period read in the rota's time zone."""
    try:
        with command_services() as services:
            zone = services.rota.rota.tz
            start = in_zone(start_moment, zone) if start_moment else None
            end = in_zone(end_moment, zone) if end_moment else None
            return make(services, start, end)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None


def _one_format(as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise click.UsageError("--json and --csv: choose one")


@reports.command("sla")
@_period_options
def reports_sla(
    start_moment: datetime | None,
    end_moment: datetime | None,
    client: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Per client and priority: count, time to acknowledge and resolve (median, p90), breaches."""
    _one_format(as_json, as_csv)
    report = _run(start_moment, end_moment, lambda s, start, end: s.reports.sla(start, end, client))
    if as_csv:
        click.echo(sla_csv(report), nl=False)
    elif as_json:
        click.echo(json.dumps([sla_row_json(r) for r in report.rows], indent=2))
    else:
        _print_sla(report)


@reports.command("noise")
@_period_options
def reports_noise(
    start_moment: datetime | None,
    end_moment: datetime | None,
    client: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Alerts received and suppressed, incidents per rule and priority, the noisiest alerts and
    hosts, time to acknowledge per person, pages per person per night."""
    _one_format(as_json, as_csv)
    report = _run(start_moment, end_moment, lambda s, start, end: s.reports.noise(start, end, client))
    if as_csv:
        click.echo(noise_csv(report), nl=False)
    elif as_json:
        click.echo(json.dumps(noise_json(report), indent=2, ensure_ascii=False))
    else:
        _print_noise(report)


@reports.command("proactive")
@_period_options
def reports_proactive(
    start_moment: datetime | None,
    end_moment: datetime | None,
    client: str | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Incidents monitoring opened against those people reported, and how many of monitoring's
    were resolved before anyone reported them."""
    _one_format(as_json, as_csv)
    report = _run(start_moment, end_moment, lambda s, start, end: s.reports.proactive(start, end, client))
    if as_csv:
        click.echo(proactive_csv(report), nl=False)
    elif as_json:
        click.echo(json.dumps(proactive_json(report), indent=2, ensure_ascii=False))
    else:
        _print_proactive(report)


# -- text for people --------------------------------------------------------------------------------


def _shown(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(timedelta(seconds=round(seconds)))


def _period(start: datetime, end: datetime) -> str:
    return f"from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def _print_sla(report: SlaReport) -> None:
    click.echo(f"SLA {_period(report.start, report.end)} (service time)")
    click.echo(
        f"{'client':<14} {'pri':<3} {'count':>5}  {'ack median':>10} {'ack p90':>9}  "
        f"{'res median':>10} {'res p90':>9}  breaches (ack/resolve)"
    )
    for row in report.rows:
        click.echo(
            f"{row.client:<14} {row.priority:<3} {row.count:>5}  {_shown(row.ack_median):>10} "
            f"{_shown(row.ack_p90):>9}  {_shown(row.resolve_median):>10} {_shown(row.resolve_p90):>9}  "
            f"{row.ack_breaches}/{row.resolve_breaches}"
        )
        for breach in row.breaches:
            click.echo(
                f"    #{breach.number} {breach.target} due {breach.due_at:%Y-%m-%d %H:%M} UTC: {breach.title}"
            )
    if not report.rows:
        click.echo("(no incidents opened in this period)")


def _bars(items: tuple[Counted, ...], width: int = 30) -> None:
    largest = max((c.count for c in items), default=0)
    for c in items:
        bar = "#" * max(1, round(width * c.count / largest)) if largest and c.count else ""
        click.echo(f"  {c.key[:28]:<28} {c.count:>7}  {bar}")
    if not items:
        click.echo("  (none)")


def _print_noise(report: NoiseReport) -> None:
    scope = f", client {report.client} (alert figures: {report.alerts_scope})" if report.client else ""
    click.echo(f"Noise {_period(report.start, report.end)}{scope}")
    click.echo("Received, by source:               deliveries   events   alerts")
    for s in report.sources:
        click.echo(f"  {s.source:<30} {s.deliveries:>10} {s.events:>8} {s.alerts:>8}")
    click.echo(
        f"Alerts: {report.alerts} received = {report.in_incidents} in incidents + {report.heartbeats} "
        f"heartbeats + {report.suppressed} that paged nobody"
    )
    click.echo("Paged nobody, by reason:")
    _bars(report.suppressed_by_reason)
    click.echo("Paged nobody, by rule:")
    _bars(report.suppressed_by_rule)
    click.echo(f"Incidents opened: {report.incidents_opened}, by rule:")
    _bars(report.opened_by_rule)
    click.echo("By priority:")
    _bars(report.opened_by_priority)
    for title, noisy in (("alert names", report.noisiest_names), ("hosts", report.noisiest_hosts)):
        click.echo(f"Noisiest {title}:                 occurrences  alerts  in incidents")
        for n in noisy:
            click.echo(f"  {n.key[:30]:<30} {n.occurrences:>12} {n.alerts:>7} {n.in_incidents:>13}")
        if not noisy:
            click.echo("  (none)")
    click.echo("Time to acknowledge, per person:   count    median       p90")
    for a in report.ack_times:
        click.echo(
            f"  {a.person[:30]:<30} {a.count:>7} {_shown(a.median_seconds):>9} {_shown(a.p90_seconds):>9}"
        )
    if not report.ack_times:
        click.echo("  (no acknowledgements)")
    click.echo(
        f"Pages at night ({report.night} {report.timezone}, {report.nights} nights):"
        "  pages  nights  most  per night"
    )
    for p in report.night_pages:
        click.echo(
            f"  {p.person[:30]:<30} {p.pages:>7} {p.nights_paged:>7} "
            f"{p.most_in_a_night:>5} {p.per_night:>10.2f}"
        )
    if not report.night_pages:
        click.echo("  (nobody was paged at night)")


def _print_proactive(report: ProactiveReport) -> None:
    click.echo(f"Proactive share {_period(report.start, report.end)}")
    click.echo(
        f"{'client':<16} {'monitoring':>10} {'by people':>9} {'share':>6}   "
        f"{'resolved before reported':>24} {'reported':>8} {'open':>5} {'proactive':>9}"
    )
    for row in [*report.rows, report.total]:
        click.echo(
            f"{row.client[:16]:<16} {row.monitoring:>10} {row.reported_by_people:>9} "
            f"{_share(row.monitoring_share):>6}   {row.resolved_unreported:>24} {row.reported:>8} "
            f"{row.open_unreported:>5} {_share(row.proactive_share):>9}"
        )


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"

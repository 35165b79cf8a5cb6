"""`bridge incidents`: list, show and act on incidents, on the database directly (what an action
queues is sent by the running bridge)."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from bridge.cli.context import command_services
from bridge.cli.options import RowNumber, Spelled, actor_option
from bridge.db.queries import Paging
from bridge.errors import BridgeError
from bridge.priority import SUPPORT_LINES, Priority
from bridge.services.incidents import IncidentQuery
from bridge.ticketing.lifecycle import Change, IncidentAction, IncidentStatus, IncidentType
from bridge.web.requests import MAX_PAGE
from bridge.web.serialize import incident_detail_json, incident_json

SHOWN_FIELDS = (
    "status",
    "priority",
    "rule",
    "group_key",
    "alert_count",
    "occurrence_count",
    "reopen_count",
    "type",
    "client",
    "assignee",
    "line",
    "policy",
    "return_count",
    "opened_at",
    "ack_due_at",
    "acknowledged_at",
    "resolve_due_at",
    "resolved_at",
    "closed_at",
    "ack_breached_at",
    "resolve_breached_at",
)
ACTION_HELP = {
    IncidentAction.ACK: "Acknowledge an incident (stops escalation).",
    IncidentAction.RESOLVE: "Resolve an incident (it still needs confirming with `close`).",
    IncidentAction.CLOSE: "Confirm a resolution and close the incident.",
    IncidentAction.REJECT: "Reject a resolution: back to work, counted as a return.",
    IncidentAction.REOPEN: "Reopen a resolved, closed or cancelled incident.",
    IncidentAction.ESCALATE: "Escalate now: page the next step of the escalation policy.",
    IncidentAction.COMMENT: "Add a comment.",
    IncidentAction.CANCEL: "Cancel an incident that is no longer relevant.",
}


@click.group()
def incidents() -> None:
    """List, show and act on incidents (directly on the database)."""


@incidents.command("list")
@click.option("--status", multiple=True, type=Spelled([s.value for s in IncidentStatus]), help="(repeatable)")
@click.option("--priority", multiple=True, type=Spelled([p.value for p in Priority]), help="(repeatable)")
@click.option("--client", multiple=True, help="A client of the rota (repeatable).")
@click.option("--assignee", multiple=True, help="The responsible person's rota handle (repeatable).")
@click.option(
    "--type", "kind", multiple=True, type=Spelled([t.value for t in IncidentType]), help="(repeatable)"
)
@click.option("--search", "-q", help="Text in the title or host (the API's q).")
@click.option("--limit", type=click.IntRange(1, MAX_PAGE), default=50, show_default=True)
@click.option("--offset", type=RowNumber(0), default=0, show_default=True, help="Skip this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incidents_list(
    status: tuple[str, ...],
    priority: tuple[str, ...],
    client: tuple[str, ...],
    assignee: tuple[str, ...],
    kind: tuple[str, ...],
    search: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List incidents, newest first, filtered as GET /api/incidents filters them."""
    query = IncidentQuery(
        status=status,
        priority=priority,
        q=search or None,
        client=client,
        assignee=assignee,
        type=kind,
    )
    with command_services() as services:
        page = services.incidents.list(query, Paging(limit, offset))
    if as_json:
        items = [incident_json(r) for r in page.items]
        click.echo(json.dumps({"items": items, "total": page.total}, indent=2))
        return
    click.echo(f"{'#':>6}  {'status':<12} {'pri':<3} {'alerts':>6}  {'opened (UTC)':<19}  title")
    for r in page.items:
        click.echo(
            f"{r.number:>6}  {r.status:<12} {r.priority:<3} {r.alert_count:>6}  "
            f"{r.opened_at:%Y-%m-%d %H:%M:%S}  {r.title}"
        )
    skipped = f", after the first {offset}" if offset else ""
    click.echo(f"({len(page.items)} of {page.total}{skipped})")


@incidents.command("show")
@click.argument("number", type=RowNumber())
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incidents_show(number: int, as_json: bool) -> None:
    try:
        with command_services() as services:
            body = incident_detail_json(services.incidents.detail(number))
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"Incident {body['number']}: {body['title']}")
    for key in SHOWN_FIELDS:
        click.echo(f"  {key:<17} {body[key]}")
    click.echo("Alerts:")
    for alert in body["alerts"]:
        click.echo(
            f"  {alert['status']:<8} {alert['severity']:<8} {alert['name']} {alert['host']}  "
            f"[{alert['fingerprint']}]"
        )
    click.echo("Timeline:")
    for entry in body["timeline"]:
        click.echo(f"  {entry['at']}  {entry['actor']:<10} {entry['text']}")


def _act(number: int, action: IncidentAction, actor: str, comment: str, change: Change | None = None) -> None:
    try:
        with command_services() as services:
            incident = services.incidents.act(number, action, actor, comment, change)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"incident {incident.number} is {incident.status}")
    if change is not None:
        owner = incident.assignee or "nobody"
        click.echo(f"  {incident.priority}, responsible {owner}, line {incident.line}")


def _action_command(action: IncidentAction) -> Callable[[int, str, str], None]:
    @click.argument("number", type=RowNumber())
    @click.option("--comment", "-m", default="", help="Text recorded with the action.")
    @actor_option
    def command(number: int, comment: str, actor: str) -> None:
        _act(number, action, actor, comment)

    command.__doc__ = ACTION_HELP[action]
    return command


for _action in ACTION_HELP:
    incidents.command(_action.value)(_action_command(_action))


@incidents.command("assign")
@click.argument("number", type=RowNumber())
@click.option("--to", "to", help="The new responsible person's rota handle.")
@click.option("--line", type=Spelled(SUPPORT_LINES), help="The new support line.")
@click.option("--comment", "-m", default="", help="Text recorded with the action.")
@actor_option
def incidents_assign(number: int, to: str | None, line: str | None, comment: str, actor: str) -> None:
    """Reassign an incident and/or move it to another line."""
    _act(number, IncidentAction.ASSIGN, actor, comment, Change(assignee=to, line=line))


@incidents.command("priority")
@click.argument("number", type=RowNumber())
@click.argument("priority", type=Spelled([p.value for p in Priority]))
@click.option("--comment", "-m", default="", help="Text recorded with the action.")
@actor_option
def incidents_priority(number: int, priority: str, comment: str, actor: str) -> None:
    """Change an incident's priority (its SLA deadlines follow)."""
    _act(number, IncidentAction.PRIORITY, actor, comment, Change(priority=Priority(priority)))

"""The `bridge` command. Each subcommand parses its options, calls one service, prints."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from bridge.errors import BridgeError, ConfigError, RulesError
from bridge.settings import SPECS, Settings, redacted, unknown_variables


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in unknown_variables():
        click.echo(f"warning: {warning}", err=True)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # its import-time chatter
    return settings


def _start_runtime(settings: Settings) -> Any:
    """The database brought to the current schema (an empty SQLite one is created), then the
    runtime with its rules and rota; a refusal stops the command with what is wrong."""
    from bridge.db.engine import create_db_engine, prepare
    from bridge.worker.runtime import Runtime

    engine = create_db_engine(settings.database_url, timeout=settings.db_timeout)
    try:
        logging.getLogger("bridge").info(prepare(engine))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.dispose()
    try:
        return Runtime.build(settings)
    except RulesError as exc:
        raise click.ClickException(f"rules or rota refused, not starting:\n{exc}") from None


@click.group()
@click.version_option(package_name="bridge")
def main() -> None:
    """bridge: monitoring events in, incidents that people own out."""


# -- serve -------------------------------------------------------------------------------------


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, help="HTTP worker threads.")
def serve(host: str, port: int, threads: int) -> None:
    """Run bridge: webhooks, API and (without BRIDGE_REDIS_URL) the in-process worker.

    For production, run the same app under gunicorn (`gunicorn 'bridge.web.wsgi:create()'`) and
    `bridge worker` processes; see the README."""
    import waitress

    from bridge.cli.sender_config import alertmanager_snippet, zabbix_instructions
    from bridge.services.tokens import Scope, ensure_tokens
    from bridge.web.app import create_app

    settings = _settings()
    log = logging.getLogger("bridge")
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" on every busy second
    runtime = _start_runtime(settings)
    base_url = settings.base_url or f"http://{host}:{port}"
    for generated in ensure_tokens(runtime.sessions, settings, runtime.clock.now()):
        click.echo(f"\n=== generated the {generated.scope} token (shown once, stored hashed) ===")
        if generated.scope is Scope.ALERTMANAGER:
            click.echo(alertmanager_snippet(base_url, generated.token))
        elif generated.scope is Scope.ZABBIX:
            click.echo(zabbix_instructions(base_url, generated.token))
        else:
            click.echo(f"API: curl -H 'Authorization: Bearer {generated.token}' {base_url}/api/incidents\n")
    ruleset = runtime.rules.engine.rules
    log.info("rules version %s: %d rules from %s", ruleset.version, len(ruleset.rules), settings.rules_dir)
    app = create_app(runtime=runtime)
    if runtime.queue is None:
        runtime.runner.start()
        runtime.runner.notify()  # pick up whatever was left pending by the last run
    else:
        log.info("production mode: deliveries go to the rq queue; run `bridge worker` processes")
    runtime.watch_files()

    def _reload(_signum: int, _frame: FrameType | None) -> None:
        runtime.rules.reload()
        runtime.rota.reload()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGHUP, _reload)
    signal.signal(signal.SIGTERM, _stop)
    log.info("bridge listening on http://%s:%d (database %s)", host, port, runtime.db.url.render_as_string())
    try:
        waitress.serve(
            app, host=host, port=port, threads=threads, ident="bridge", clear_untrusted_proxy_headers=True
        )
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()


# -- worker ------------------------------------------------------------------------------------


@main.command()
@click.option("--burst", is_flag=True, help="Process what is queued and due, then exit.")
@click.option("--name", default=None, help="Worker name in rq (default: bridge-HOST-PID).")
@click.option(
    "--metrics-port", type=int, default=None, help="Serve this worker's Prometheus metrics on this port."
)
def worker(burst: bool, name: str | None, metrics_port: int | None) -> None:
    """Run a production worker: rq jobs from BRIDGE_REDIS_URL plus the timer, sweeper, outbox and
    reconciliation tick. Start as many as the load needs, on one machine or many."""
    from bridge.worker.process import WorkerProcess

    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(
            "bridge worker takes its jobs from Redis: set BRIDGE_REDIS_URL "
            "(without it, `bridge serve` runs the worker in its own process)"
        )
    runtime = _start_runtime(settings)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, registry=runtime.metrics.registry)
    try:
        WorkerProcess(runtime, name).run(burst=burst)
    finally:
        runtime.close()


# -- db ----------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations."""
    from bridge.db.engine import create_db_engine, current_revision, upgrade

    settings = _settings()
    engine = create_db_engine(settings.database_url, timeout=settings.db_timeout)
    before = current_revision(engine)
    upgrade(engine, revision)
    click.echo(f"database at {current_revision(engine)} (was {before or 'empty'})")
    engine.dispose()


@db.command("current")
def db_current() -> None:
    """Print the schema revision."""
    from bridge.db.engine import create_db_engine, current_revision, head_revision

    settings = _settings()
    engine = create_db_engine(settings.database_url, timeout=settings.db_timeout)
    click.echo(f"{current_revision(engine) or 'empty'} (latest {head_revision()})")
    engine.dispose()


# -- incidents ---------------------------------------------------------------------------------


@main.group()
def incidents() -> None:
    """List, show and act on incidents (directly on the database)."""


@incidents.command("list")
@click.option(
    "--status", multiple=True, help="open, acknowledged, stale, resolved, closed, cancelled (repeatable)"
)
@click.option("--priority", multiple=True, help="P1..P5 (repeatable)")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incidents_list(status: tuple[str, ...], priority: tuple[str, ...], limit: int, as_json: bool) -> None:
    from bridge.services import incidents as service
    from bridge.web.serialize import incident_json

    with _database() as sessions, sessions() as session:
        rows, total = service.list_incidents(session, service.IncidentQuery(status, priority, None, limit, 0))
        if as_json:
            click.echo(json.dumps({"items": [incident_json(r) for r in rows], "total": total}, indent=2))
            return
        click.echo(f"{'#':>6}  {'status':<12} {'pri':<3} {'alerts':>6}  {'opened (UTC)':<19}  title")
        for r in rows:
            click.echo(
                f"{r.number:>6}  {r.status:<12} {r.priority:<3} {r.alert_count:>6}  "
                f"{r.opened_at:%Y-%m-%d %H:%M:%S}  {r.title}"
            )
        click.echo(f"({len(rows)} of {total})")


@incidents.command("show")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def incidents_show(number: int, as_json: bool) -> None:
    from bridge.services import incidents as service
    from bridge.web.serialize import alert_json, incident_json, timeline_json

    with _database() as sessions, sessions() as session:
        try:
            incident = service.get_incident(session, number)
        except BridgeError as exc:
            raise click.ClickException(str(exc)) from None
        body = incident_json(incident)
        body["alerts"] = [alert_json(a) for a in service.alerts_of(session, number)]
        body["timeline"] = [timeline_json(t) for t in service.timeline(session, number)]
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    click.echo(f"Incident {body['number']}: {body['title']}")
    for key in (
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
    ):
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


ACTION_HELP = {
    "ack": "Acknowledge an incident (stops escalation).",
    "resolve": "Resolve an incident (it still needs confirming with `close`).",
    "close": "Confirm a resolution and close the incident.",
    "reject": "Reject a resolution: back to work, counted as a return.",
    "reopen": "Reopen a resolved, closed or cancelled incident.",
    "escalate": "Escalate now: page the next step of the escalation policy.",
    "comment": "Add a comment.",
    "cancel": "Cancel an incident that is no longer relevant.",
}


def _incident_action(action: str) -> Any:
    @click.argument("number", type=int)
    @click.option("--comment", "-m", default="", help="Text recorded with the action.")
    def command(number: int, comment: str) -> None:
        _act(number, action, comment)

    command.__doc__ = ACTION_HELP[action]
    return command


def _act(number: int, action: str, comment: str, change: Any = None) -> None:
    from bridge.clock import SystemClock
    from bridge.services import incidents as service
    from bridge.ticketing.lifecycle import IncidentAction

    actor = f"cli:{os.environ.get('USER') or 'unknown'}"
    try:
        with _database() as sessions, sessions() as session, session.begin():
            incident = service.act(
                session,
                number,
                IncidentAction(action),
                actor,
                SystemClock().now(),
                comment,
                _hooks(sessions),
                change=change,
            )
            click.echo(f"incident {incident.number} is {incident.status}")
            if change is not None:
                owner = incident.assignee or "nobody"
                click.echo(f"  {incident.priority}, responsible {owner}, line {incident.line}")
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None


for _action in ACTION_HELP:
    incidents.command(_action)(_incident_action(_action))


@incidents.command("assign")
@click.argument("number", type=int)
@click.option("--to", "to", help="The new responsible person's rota handle.")
@click.option("--line", type=click.Choice(["L1", "L2", "L3"]), help="The new support line.")
@click.option("--comment", "-m", default="", help="Text recorded with the action.")
def incidents_assign(number: int, to: str | None, line: str | None, comment: str) -> None:
    """Reassign an incident and/or move it to another line."""
    from bridge.services.incidents import Change

    _act(number, "assign", comment, Change(assignee=to, line=line))


@incidents.command("priority")
@click.argument("number", type=int)
@click.argument("priority", type=click.Choice(["P1", "P2", "P3", "P4", "P5"], case_sensitive=False))
@click.option("--comment", "-m", default="", help="Text recorded with the action.")
def incidents_priority(number: int, priority: str, comment: str) -> None:
    """Change an incident's priority (its SLA deadlines follow)."""
    from bridge.priority import Priority
    from bridge.services.incidents import Change

    _act(number, "priority", comment, Change(priority=Priority(priority.upper())))


def _hooks(sessions: sessionmaker[Session]) -> Any:
    """What actions taken here set off: ownership, escalation and notifications (sent by the
    running bridge), and write-back to the sources (jobs in the outbox)."""
    from bridge.clock import SystemClock
    from bridge.services.duty import Duty
    from bridge.services.hooks import HookChain
    from bridge.services.live_rota import LiveRota
    from bridge.services.live_rules import LiveRules
    from bridge.services.notifications import Notifier, Templates, channels_from
    from bridge.services.writeback import Writeback

    settings = _settings()
    clock = SystemClock()
    try:
        rota = LiveRota(settings.rules_dir, settings.zone)
    except RulesError as exc:
        raise click.ClickException(f"rota refused:\n{exc}") from None
    notifier = Notifier(sessions, clock, channels_from(settings), Templates(settings.templates_dir))
    duty = Duty(rota, notifier, settings.base_url)
    if not (settings.zabbix_enabled or settings.alertmanager_url):
        return duty
    return HookChain(Writeback(settings, LiveRules(settings.rules_dir, settings.zone), clock), duty)


@contextmanager
def _database(*, read_only: bool = False) -> Iterator[sessionmaker[Session]]:
    """Sessions on BRIDGE_DATABASE_URL for the length of one command; a `read_only` command
    (replay, export) leaves a live bridge's intake free to write meanwhile."""
    from bridge.db.engine import create_db_engine, make_session_factory

    settings = _settings()
    engine = create_db_engine(settings.database_url, timeout=settings.db_timeout, read_only=read_only)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


# -- intake ------------------------------------------------------------------------------------


@main.group()
def intake() -> None:
    """The intake log of deliveries."""


@intake.command("export")
@click.option("--since", "since_text", help="How far back from now, e.g. 7d (default: everything).")
@click.option("--from", "from_text", help="ISO 8601 start (instead of --since).")
@click.option("--until", "until_text", help="ISO 8601 end (default: now).")
@click.option("--output", "-o", type=click.File("w"), default="-", help="File to write (default: stdout).")
def intake_export(since_text: str | None, from_text: str | None, until_text: str | None, output: Any) -> None:
    """Write the intake log as a trace: JSON lines of {source, received_at, body}, in arrival
    order, ready for `bridge rules replay --input` anywhere."""
    from sqlalchemy.exc import SQLAlchemyError

    from bridge.cli.rules import _duration, _instant, history_unreadable
    from bridge.replay.trace import stored_deliveries, write_trace

    if since_text and from_text:
        raise click.UsageError("give --since or --from, not both")
    start = _instant(from_text) if from_text else None
    if since_text:
        from bridge.clock import SystemClock

        start = SystemClock().now() - _duration(since_text)
    until = _instant(until_text) if until_text else None
    try:
        with _database(read_only=True) as sessions, sessions() as session:
            written = write_trace(stored_deliveries(session, start, until), output)
    except SQLAlchemyError as exc:
        raise history_unreadable(exc) from None
    click.echo(f"exported {written} deliveries", err=True)


@intake.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--all", "every", is_flag=True, help="Every delivery parked as failed.")
def intake_retry(ids: tuple[int, ...], every: bool) -> None:
    """Replay deliveries parked as failed (see GET /api/intake?status=failed): they go back to
    pending with their attempts reset, and through the rules again."""
    from bridge.integrations.queue import IntakeQueue
    from bridge.services import intake as service

    if bool(ids) == every:
        raise click.UsageError("name the deliveries to retry, or give --all")
    settings = _settings()
    with _database() as sessions, sessions() as session, session.begin():
        retried = service.retry_failed(session, list(ids) or None)
    for missing in sorted(set(ids) - set(retried)):
        click.echo(f"delivery {missing} is not parked as failed: left as it is", err=True)
    if not retried:
        click.echo("nothing to retry")
        return
    where = "bridge serve's worker takes them up"
    if settings.redis_url:
        queue = IntakeQueue.from_url(settings.redis_url, settings.redis_timeout)
        queued = queue.enqueue(retried)
        where = "queued for the workers" if queued else "Redis is down: the sweeper queues them"
        queue.close()
    click.echo(f"{len(retried)} deliveries back to pending ({where}): {', '.join(map(str, retried))}")


# -- tokens, config, demo ---------------------------------------------------------------


@main.group()
def tokens() -> None:
    """Bearer tokens of the webhooks and the API."""


@tokens.command("rotate")
@click.argument("scope", type=click.Choice(["alertmanager", "zabbix", "admin"]))
def tokens_rotate(scope: str) -> None:
    """Revoke the stored tokens of SCOPE and print a new one (shown once)."""
    from bridge.clock import SystemClock
    from bridge.services.tokens import Scope, pinned_token, rotate

    settings = _settings()
    if pinned_token(settings, Scope(scope)):
        raise click.ClickException(
            f"the {scope} token is set by BRIDGE_{scope.upper()}_TOKEN: change it there"
        )
    with _database() as sessions:
        click.echo(rotate(sessions, Scope(scope), SystemClock().now()))


@main.command()
@click.option("--markdown", is_flag=True, help="Print the README's configuration table.")
def config(markdown: bool) -> None:
    """Show the settings bridge reads from the environment."""
    if markdown:
        click.echo("| variable | default | what |\n|---|---|---|")
        for spec in SPECS:
            click.echo(f"| `{spec.env}` | {f'`{spec.default}`' if spec.default else ''} | {spec.help} |")
        return
    settings = _settings()
    for spec in SPECS:
        value = getattr(settings, spec.attr)
        shown = redacted(str(value)) if spec.secret and value else value
        click.echo(f"{spec.env:<28} {shown}")


@main.command()
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="Where bridge runs.")
@click.option("--alertmanager-token", envvar="BRIDGE_ALERTMANAGER_TOKEN", help="Default: a temporary one.")
@click.option("--zabbix-token", envvar="BRIDGE_ZABBIX_TOKEN", help="Default: a temporary one.")
@click.option("--admin-token", envvar="BRIDGE_ADMIN_TOKEN", help="Default: a temporary one.")
@click.option(
    "--wait", default=30.0, show_default=True, help="Seconds to wait for bridge to process the storm."
)
def demo(
    url: str, alertmanager_token: str | None, zabbix_token: str | None, admin_token: str | None, wait: float
) -> None:
    """Send a realistic storm of sample alerts to a running bridge and show what it made of them.

    Tokens not given are minted as temporary tokens (1 hour) in BRIDGE_DATABASE_URL, which must be
    the database of the bridge at URL.
    """
    from bridge.cli.demo import run_demo

    try:
        run_demo(
            url.rstrip("/"), alertmanager_token, zabbix_token, admin_token, wait, _demo_settings, click.echo
        )
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None


def _demo_settings() -> Settings:
    return _settings()


def _register_commands() -> None:
    """`bridge oncall`, `bridge rota ...`, `bridge reports ...` and `bridge rules ...` live in
    their own modules."""
    from bridge.cli.oncall import oncall, reports, rota
    from bridge.cli.rules import rules

    for command in (oncall, rota, reports, rules):
        main.add_command(command)


_register_commands()

"""`bridge serve` (the embedded default, or a web tier) and `bridge worker` (production)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from types import FrameType

import click
from prometheus_client import start_http_server, values

from bridge.cli.address import DEFAULT_HOST, DEFAULT_PORT, Address, listening, recorded
from bridge.cli.context import start_runtime
from bridge.cli.options import load_settings
from bridge.cli.sender_config import alertmanager_snippet, zabbix_instructions
from bridge.db.engine import write_turn_between_processes
from bridge.db.migrate import sqlite_file
from bridge.db.models import Scope
from bridge.settings import Settings
from bridge.web.app import create_app
from bridge.web.waitress_server import create_server
from bridge.worker.child import ChildWorker
from bridge.worker.process import WorkerProcess
from bridge.worker.runtime import Runtime

log = logging.getLogger("bridge")

SIGHUP = "SIGHUP"
"""Who the log names for a reload asked for by the signal."""


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on.",
)
@click.option("--threads", default=8, show_default=True, help="HTTP worker threads.")
def serve(host: str, port: int, threads: int) -> None:
    """Run bridge: webhooks, API and (without BRIDGE_REDIS_URL) the worker, in a process of its own.

    Links in messages point at BRIDGE_BASE_URL, else at the address served. While it runs, the
    address is recorded next to a SQLite database (bridge.db.serving) for `bridge demo` and the
    other commands on that database.

    For production, run the same app under gunicorn (`gunicorn 'bridge.web.wsgi:create()'`) and
    `bridge worker` processes; see the README."""
    settings = load_settings()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" on every busy second
    address = listening(host, port, settings.base_url)
    warn_about_links(settings)
    served = served_settings(settings, address.base_url)
    # The embedded default on a SQLite file: the worker runs in a process of its own
    # (bridge.worker.child), so deciding does not hold the web threads' interpreter lock.
    own_worker = not settings.redis_url and sqlite_file(settings.database_url) is not None
    with contextlib.ExitStack() as stack:
        if own_worker:
            stack.enter_context(shared_metrics())
        with write_turn_between_processes(own_worker):
            runtime = start_runtime(served)
        stack.callback(runtime.close)
        child = None
        if own_worker:
            runtime.services.db.dispose()  # the worker process opens its own connections, never these
            child = ChildWorker.fork(partial(_worker_runtime, served), reload_files)
            stack.callback(child.stop)
        _serve(runtime, child, settings, address, host, port, threads)


def _worker_runtime(settings: Settings) -> Runtime:
    """The runtime of the worker process (bridge.worker.child)."""
    with write_turn_between_processes():
        return Runtime.build(settings)


def _serve(
    runtime: Runtime,
    child: ChildWorker | None,
    settings: Settings,
    address: Address,
    host: str,
    port: int,
    threads: int,
) -> None:
    services = runtime.services
    base_url = address.base_url
    app = create_app(runtime=runtime)
    try:  # listen first: tokens shown once must not be shown by a server that then cannot start
        server = create_server(
            app, host=host, port=port, threads=threads, ident="bridge", clear_untrusted_proxy_headers=True
        )
    except OSError as exc:  # the port is taken (another bridge?), or the address is not this machine's
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    for generated in services.tokens.generate_missing():
        click.echo(f"\n=== generated the {generated.scope} token (shown once, stored hashed) ===")
        if generated.scope is Scope.ALERTMANAGER:
            click.echo(alertmanager_snippet(base_url, generated.token))
        elif generated.scope is Scope.ZABBIX:
            click.echo(zabbix_instructions(base_url, generated.token))
        else:
            click.echo(f"API: curl -H 'Authorization: Bearer {generated.token}' {base_url}/api/incidents\n")
    ruleset = services.rules.engine.rules
    log.info("rules version %s: %d rules from %s", ruleset.version, len(ruleset.rules), settings.rules_dir)
    if runtime.queue is not None:
        log.info("production mode: deliveries go to the rq queue; run `bridge worker` processes")
    if child is not None:

        def _worker_gone(status: int) -> None:
            log.error(
                "the worker process ended (%s): deliveries are processed in this process from now",
                _exit_status(status),
            )
            runtime.take_over_worker()

        runtime.runner.wakeup.forward_to(child.go(_worker_gone))
    runtime.start(worker=child is None)

    def _reload(_signum: int, _frame: FrameType | None) -> None:
        reload_files(runtime)
        if child is not None:
            child.reload()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGHUP, _reload)
    signal.signal(signal.SIGTERM, _stop)
    log.info(
        "bridge listening on http://%s:%d (database %s; links in messages to %s)",
        host,
        port,
        services.db.url.render_as_string(),
        base_url,
    )
    try:
        with recorded(settings.database_url, address):
            server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def reload_files(runtime: Runtime) -> None:
    """SIGHUP: the rules and the rota read again."""
    runtime.services.rules.reload(SIGHUP)
    runtime.services.rota.reload(SIGHUP)


@contextlib.contextmanager
def shared_metrics() -> Iterator[None]:
    """Counters in files the worker process shares (prometheus_client's multiprocess mode, as
    under gunicorn), so that /metrics adds up what both processes counted. The directory made
    for it is removed afterwards (one given as PROMETHEUS_MULTIPROC_DIR stays), and this process
    counts as before."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="bridge-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    before = values.ValueClass
    # prometheus_client picks its mode when imported; counters made from now on follow this one.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        values.ValueClass = before
        if not given:
            os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
            shutil.rmtree(directory, ignore_errors=True)


def _exit_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


@click.command()
@click.option("--burst", is_flag=True, help="Process what is queued and due, then exit.")
@click.option("--name", default=None, help="Worker name in rq (default: bridge-HOST-PID).")
@click.option(
    "--metrics-port", type=int, default=None, help="Serve this worker's Prometheus metrics on this port."
)
def worker(burst: bool, name: str | None, metrics_port: int | None) -> None:
    """Run a production worker: rq jobs from BRIDGE_REDIS_URL plus the timer, sweeper, outbox and
    reconciliation tick. Start as many as the load needs, on one machine or many."""
    settings = load_settings()
    if not settings.redis_url:
        raise click.ClickException(
            "bridge worker takes its jobs from Redis: set BRIDGE_REDIS_URL "
            "(without it, `bridge serve` runs the worker in its own process)"
        )
    if settings.base_url is None:
        log.warning("BRIDGE_BASE_URL is not set: links in the messages this worker sends have no host")
    shared = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if shared:  # the web tier's directory on this machine: its /metrics adds this worker's counters up
        Path(shared).mkdir(parents=True, exist_ok=True)
    warn_about_links(settings)
    runtime = start_runtime(settings)
    if metrics_port is not None:
        start_http_server(metrics_port, registry=runtime.services.metrics.registry)
    try:
        WorkerProcess(runtime, name).run(burst=burst)
    finally:
        runtime.close()


def served_settings(settings: Settings, base_url: str) -> Settings:
    """The settings `bridge serve` runs with: links in messages to `base_url` (BRIDGE_BASE_URL, else
    the address served), but mail action links only with BRIDGE_BASE_URL: the address served may
    be a loopback or a name only this network knows, and a link that acts as a person goes out
    only to the public address an operator configured."""
    served = settings.with_overrides(base_url=base_url)
    if settings.base_url is None:
        served = served.with_overrides(mail_link_lifetime=timedelta(0))
    return served


def warn_about_links(settings: Settings) -> None:
    """Say why notification mails go out without Acknowledge/Escalate links, when they do."""
    if not settings.smtp_url or settings.mail_link_lifetime <= timedelta(0):
        return
    missing = [
        name
        for name, value in (
            ("BRIDGE_BASE_URL", settings.base_url),
            ("BRIDGE_SECRET_KEY", settings.secret_key),
        )
        if not value
    ]
    if missing:
        log.warning(
            "%s not set: notification mails carry no Acknowledge/Escalate links (docs/mail.md)",
            " and ".join(missing),
        )

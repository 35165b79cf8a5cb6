"""`bridge serve` (the embedded default, or a web tier) and `bridge worker` (production)."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import click
import waitress
from prometheus_client import start_http_server

from bridge.cli.context import start_runtime
from bridge.cli.options import load_settings
from bridge.cli.sender_config import alertmanager_snippet, zabbix_instructions
from bridge.db.models import Scope
from bridge.web.app import create_app
from bridge.worker.process import WorkerProcess

log = logging.getLogger("bridge")

SIGHUP = "SIGHUP"
"""Who the log names for a reload asked for by the signal."""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, help="Port to listen on.")
@click.option("--threads", default=8, show_default=True, help="HTTP worker threads.")
def serve(host: str, port: int, threads: int) -> None:
    """Run bridge: webhooks, API and (without BRIDGE_REDIS_URL) the in-process worker.

    For production, run the same app under gunicorn (`gunicorn 'bridge.web.wsgi:create()'`) and
    `bridge worker` processes; see the README."""
    settings = load_settings()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" on every busy second
    runtime = start_runtime(settings)
    services = runtime.services
    base_url = settings.base_url or f"http://{host}:{port}"
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
    app = create_app(runtime=runtime)
    if runtime.queue is not None:
        log.info("production mode: deliveries go to the rq queue; run `bridge worker` processes")
    runtime.start()

    def _reload(_signum: int, _frame: FrameType | None) -> None:
        services.rules.reload(SIGHUP)
        services.rota.reload(SIGHUP)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGHUP, _reload)
    signal.signal(signal.SIGTERM, _stop)
    log.info("bridge listening on http://%s:%d (database %s)", host, port, services.db.url.render_as_string())
    try:
        waitress.serve(
            app, host=host, port=port, threads=threads, ident="bridge", clear_untrusted_proxy_headers=True
        )
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()


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
    runtime = start_runtime(settings)
    if metrics_port is not None:
        start_http_server(metrics_port, registry=runtime.services.metrics.registry)
    try:
        WorkerProcess(runtime, name).run(burst=burst)
    finally:
        runtime.close()

"""Commands that work on the database: the services of a one-off command, and the runtime of a
serving process. Both first bring the database to the current schema as `bridge serve` always
has: SQLite is created or upgraded in place, a PostgreSQL that is behind stops the command with
what to run."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import click

from bridge.cli.address import recorded_address
from bridge.cli.options import load_settings
from bridge.clock import SystemClock
from bridge.db.migrate import UP_TO_DATE, prepare_url, prepared, sqlite_file
from bridge.errors import BridgeError, RulesError
from bridge.integrations.queue import IntakeQueue, QueueHandoff
from bridge.services.handoff import DatabaseHandoff, Handoff
from bridge.services.wiring import Services
from bridge.settings import Settings
from bridge.worker.runtime import Runtime

log = logging.getLogger("bridge")


def start_runtime(settings: Settings) -> Runtime:
    """The database brought to the current schema (an empty SQLite one is created), then the
    runtime with its rules and rota; a refusal stops the command with what is wrong."""
    try:
        log.info(prepare_url(settings.database_url, settings.db_timeout))
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        return Runtime.build(settings)
    except RulesError as exc:
        raise click.ClickException(f"rules or rota refused, not starting:\n{exc}") from None


@contextmanager
def command_services(settings: Settings | None = None) -> Iterator[Services]:
    """The services for one command, on BRIDGE_DATABASE_URL brought to the current schema (a
    SQLite file this creates is removed again if the command fails). What they hand over goes to
    the rq queue in production mode, else it waits in the database for a running bridge's
    worker; links in the messages they queue point at BRIDGE_BASE_URL, else at the `bridge
    serve` of the database. A rota (or rules) that does not load stops the command, once it is
    needed."""
    settings = settings or load_settings()
    if settings.base_url is None:
        serving = recorded_address(settings.database_url)
        settings = settings.with_overrides(base_url=serving.base_url) if serving else settings
    with ExitStack() as stack:
        try:
            done = stack.enter_context(prepared(settings.database_url, settings.db_timeout))
        except BridgeError as exc:  # behind, newer, unreachable: one line, no traceback
            raise click.ClickException(str(exc)) from None
        if done != UP_TO_DATE:
            log.info("%s: %s", done, sqlite_file(settings.database_url) or "BRIDGE_DATABASE_URL")
        queue = (
            IntakeQueue.from_url(settings.redis_url, settings.redis_timeout) if settings.redis_url else None
        )
        handoff: Handoff = QueueHandoff(queue) if queue is not None else DatabaseHandoff()
        services = Services(settings, SystemClock(), handoff)
        try:
            yield services
        except RulesError as exc:
            raise click.ClickException(f"rota refused:\n{exc}") from None
        finally:
            services.close()
            if queue is not None:
                queue.close()

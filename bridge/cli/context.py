"""Commands that work on the database: the services of a one-off command, and the runtime of a
serving process (the database brought to the current schema first)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import click

from bridge.cli.options import load_settings
from bridge.clock import SystemClock
from bridge.db.migrate import prepare_url
from bridge.errors import ConfigError, RulesError
from bridge.integrations.queue import IntakeQueue, QueueHandoff
from bridge.services.handoff import DatabaseHandoff, Handoff
from bridge.services.wiring import Services
from bridge.settings import Settings
from bridge.worker.runtime import Runtime


def start_runtime(settings: Settings) -> Runtime:
    """The database brought to the current schema (an empty SQLite one is created), then the
    runtime with its rules and rota; a refusal stops the command with what is wrong."""
    try:
        logging.getLogger("bridge").info(prepare_url(settings.database_url, settings.db_timeout))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        return Runtime.build(settings)
    except RulesError as exc:
        raise click.ClickException(f"rules or rota refused, not starting:\n{exc}") from None


@contextmanager
def command_services(settings: Settings | None = None) -> Iterator[Services]:
    """The services for one command, on BRIDGE_DATABASE_URL: what they hand over goes to the rq
    queue in production mode, else it waits in the database for a running bridge's worker. A
    rota (or rules) that does not load stops the command, once it is needed."""
    settings = settings or load_settings()
    queue = IntakeQueue.from_url(settings.redis_url, settings.redis_timeout) if settings.redis_url else None
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

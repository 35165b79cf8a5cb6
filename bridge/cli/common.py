"""What the `bridge` commands share: reading the settings (and setting up logging), starting a
runtime, the services of a one-off command, who the timeline names for what a command does, and
reading times and durations from options."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import click

from bridge.clock import SystemClock
from bridge.db.migrate import prepare_url
from bridge.errors import ConfigError, RulesError
from bridge.integrations.queue import IntakeQueue
from bridge.services.handoff import DatabaseHandoff, Handoff, QueueHandoff
from bridge.services.wiring import Services
from bridge.settings import Settings, unknown_variables
from bridge.timeutil import parse_duration, parse_instant
from bridge.worker.runtime import Runtime


def load_settings() -> Settings:
    """The BRIDGE_* settings (a bad one stops the command), with logging set up as they say."""
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


def cli_actor() -> str:
    """Who the timeline names for what a command does: the user at the terminal."""
    return f"cli:{os.environ.get('USER') or 'unknown'}"


def instant(text: str) -> datetime:
    """An ISO 8601 time with a zone from an option."""
    try:
        return parse_instant(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time with a zone (e.g. 2026-11-23T00:00:00Z)"
        ) from None


def duration(text: str) -> timedelta:
    """A duration such as 7d or 12h from an option."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def when(text: str | None) -> datetime:
    """An ISO 8601 time from an option, or now."""
    return instant(text) if text else SystemClock().now()

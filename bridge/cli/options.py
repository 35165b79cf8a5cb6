"""What every `bridge` command may need, cheaply: the settings (with logging set up), who the
timeline names for what a command does, and times and durations read from options."""

from __future__ import annotations

import logging
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

import click

from bridge.clock import SystemClock
from bridge.dedup.loader import load_rules_dir
from bridge.dedup.rules import RuleSet
from bridge.errors import ConfigError, RulesError
from bridge.settings import Settings, configure_logging, unknown_variables
from bridge.timeutil import parse_duration, parse_instant


def load_settings() -> Settings:
    """The BRIDGE_* settings (a bad one stops the command), with logging set up as they say."""
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for warning in unknown_variables():
        click.echo(f"warning: {warning}", err=True)
    configure_logging(settings)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # its import-time chatter
    return settings


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


def load_rules_or_exit(directory: Path | None) -> RuleSet:
    """The rules of `directory` (default: BRIDGE_RULES_DIR); their mistakes and exit 1 if they do not load."""
    directory = directory or Settings.from_env().rules_dir
    try:
        return load_rules_dir(directory)
    except RulesError as exc:
        click.echo(f"{directory}: rules refused\n{exc}", err=True)
        sys.exit(1)

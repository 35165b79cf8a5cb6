"""What every `bridge` command may need, cheaply: the settings (with logging set up), who the
timeline names for what a command does (`--as`), choices, and times and durations read from
options."""

from __future__ import annotations

import getpass
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import click

from bridge.alert import BIGINT_MAX
from bridge.dedup.loader import load_rules_dir
from bridge.dedup.rules import RuleSet
from bridge.errors import ConfigError, RulesError
from bridge.settings import Settings, configure_logging, unknown_variables
from bridge.timeutil import parse_duration, parse_typed_instant


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


MAX_ROW_ID = BIGINT_MAX
"""The largest number the database's integer columns hold: incident numbers, delivery ids and
offsets above it are refused as options rather than fail in the database."""


class RowNumber(click.IntRange):
    """A whole number in ASCII digits (an incident number, a delivery id, an offset) that the
    database can hold: an Arabic-Indic or fullwidth 3 is no incident number, whatever int() says."""

    def __init__(self, smallest: int = 1) -> None:
        super().__init__(smallest, MAX_ROW_ID)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not (value.isascii() and value.strip().isdigit()):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        return super().convert(value, param, ctx)


ACTOR_PREFIX = "cli:"
"""What the timeline puts before the name of whoever acted from the command line: it tells a
change made on the database directly from one made through the API (`admin`)."""
ACTOR_MAX = 100  # the timeline's actor column holds 200 characters; a name needs far fewer
Decorated = TypeVar("Decorated", bound=Callable[..., Any])


def cli_actor(name: str | None = None) -> str:
    """Who the timeline names for what a command does: `cli:NAME`, NAME as given (`--as`) or
    else the login user; a name that cannot be told stops the command rather than invent one."""
    if name is None:
        try:
            name = getpass.getuser()
        except (OSError, KeyError):  # no LOGNAME/USER and no passwd entry: a bare container
            raise click.UsageError("cannot tell who you are: give --as NAME") from None
    name = name.strip()
    if not name or len(name) > ACTOR_MAX or not name.isprintable():
        raise click.BadParameter(
            f"{name!r} is not a name (1 to {ACTOR_MAX} printable characters)", param_hint="'--as'"
        )
    return f"{ACTOR_PREFIX}{name}"


def _actor_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str:
    return cli_actor(value)


def actor_option(command: Decorated) -> Decorated:
    """`--as NAME`: who the timeline names for what the command does (passed on as `actor`)."""
    return click.option(
        "--as",
        "actor",
        metavar="NAME",
        callback=_actor_option,
        help="Who did it, as the timeline shows it (default: your login name).",
    )(command)


class Spelled(click.Choice[str]):
    """One of `choices`, matched whatever its case and shown (in help and errors) as the docs
    spell it: `P2`, `L1`."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, str):
            for choice in self.choices:
                if choice.casefold() == value.strip().casefold():
                    return choice
        return super().convert(value, param, ctx)


WALL_CLOCK = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?")
"""An ISO 8601 date and time without an offset: wall-clock time in some zone."""


def instant(text: str) -> datetime:
    """An ISO 8601 time with a zone from an option."""
    try:
        return parse_typed_instant(text)
    except (ValueError, OverflowError):
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time with a zone (e.g. 2026-11-23T00:00:00Z)"
        ) from None


def moment(text: str) -> datetime:
    """An ISO 8601 time from an option (`type=moment`): with an offset, the instant it names (in
    UTC); without one, a naive wall-clock time that the command places with `in_zone`."""
    text = text.strip()
    if WALL_CLOCK.fullmatch(text):
        try:
            return datetime.fromisoformat(text.replace(" ", "T", 1))
        except ValueError:
            pass  # no such day (2026-02-30): said below
    try:
        return parse_typed_instant(text)
    except (ValueError, OverflowError):
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 time (e.g. 2026-12-05T23:00:00, or with an offset "
            "2026-12-05T23:00:00+03:00)"
        ) from None


def in_zone(at: datetime, zone: ZoneInfo) -> datetime:
    """`at` as an instant: a naive time is wall-clock time in `zone`, read as the rota file's
    times are (an hour that a DST change repeats is its first occurrence)."""
    if at.tzinfo is not None:
        return at
    try:
        return at.replace(tzinfo=zone).astimezone(UTC)
    except (OverflowError, ValueError):
        raise click.BadParameter(f"{at.isoformat()} in {zone.key} is out of range") from None


def duration(text: str) -> timedelta:
    """A duration such as 7d or 12h from an option."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def load_rules_or_exit(directory: Path | None) -> RuleSet:
    """The rules of `directory` (default: BRIDGE_RULES_DIR); their mistakes and exit 1 if they do not load."""
    directory = directory or Settings.from_env().rules_dir
    try:
        return load_rules_dir(directory)
    except RulesError as exc:
        click.echo(f"{directory}: rules refused\n{exc}", err=True)
        sys.exit(1)

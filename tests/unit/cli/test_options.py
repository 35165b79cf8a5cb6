"""What the commands read from their options: who acts (`--as`, else the login user, never a
made-up name), choices matched whatever the case and shown as the docs spell them, and times
without an offset read in a zone exactly as the rota file reads its own."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bridge.cli.options import Spelled, actor_option, cli_actor, in_zone, moment
from bridge.priority import Priority
from bridge.ticketing.rota_loader import load_rota_text

ZONES = ["Europe/Moscow", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "UTC"]


def test_the_actor_is_the_name_given() -> None:
    assert cli_actor("belov") == "cli:belov"
    assert cli_actor("  Dmitry Belov ") == "cli:Dmitry Belov"


def test_the_actor_defaults_to_the_login_user_even_without_user_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOGNAME", "ivanov")
    assert cli_actor() == "cli:ivanov"
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    assert cli_actor() == f"cli:{getpass.getuser()}"  # from the password database
    assert cli_actor() != "cli:unknown"


def test_a_user_nobody_can_name_must_say_who_they_are(monkeypatch: pytest.MonkeyPatch) -> None:
    def nobody() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", nobody)
    with pytest.raises(click.UsageError, match=r"cannot tell who you are: give --as NAME"):
        cli_actor()
    assert cli_actor("petrov") == "cli:petrov"


@pytest.mark.parametrize("name", ["", "   ", "a\nb", "nul\x00", "line\u2028sep", "x" * 101, "\ud800"])
def test_a_name_that_is_no_name_is_refused(name: str) -> None:
    with pytest.raises(click.BadParameter, match="is not a name"):
        cli_actor(name)


def test_the_as_option_hands_the_command_its_actor() -> None:
    @click.command()
    @actor_option
    def act(actor: str) -> None:
        click.echo(actor)

    assert CliRunner().invoke(act, ["--as", "sokolov"]).output == "cli:sokolov\n"
    refused = CliRunner().invoke(act, ["--as", ""])
    assert refused.exit_code == 2
    assert "Invalid value for '--as': '' is not a name" in refused.output


def test_choices_match_any_case_and_show_as_the_docs_spell_them() -> None:
    @click.command()
    @click.argument("priority", type=Spelled([p.value for p in Priority]))
    def pick(priority: str) -> None:
        click.echo(priority)

    runner = CliRunner()
    assert runner.invoke(pick, ["p2"]).output == "P2\n"
    assert runner.invoke(pick, ["P2"]).output == "P2\n"
    assert "{P1|P2|P3|P4|P5}" in runner.invoke(pick, ["--help"]).output
    refused = runner.invoke(pick, ["p9"])
    assert refused.exit_code == 2
    assert "'p9' is not one of 'P1', 'P2', 'P3', 'P4', 'P5'" in refused.output


def test_a_time_with_an_offset_is_the_instant_it_names() -> None:
    at = moment("2026-12-05T23:00:00+03:00")
    assert at == datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    assert in_zone(at, ZoneInfo("America/New_York")) == at


def test_a_time_without_an_offset_is_wall_clock_time_in_the_zone() -> None:
    at = moment("2026-12-05T23:00:00")
    assert at.tzinfo is None
    assert in_zone(at, ZoneInfo("Europe/Moscow")) == datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
    assert in_zone(moment("2026-12-05 23:00"), ZoneInfo("Europe/Moscow")) == datetime(
        2026, 12, 5, 20, 0, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text", ["tomorrow", "2026-02-30T10:00:00", "2026-12-05", "2026-12-05T25:00:00", "2026-W49-6T10:00"]
)
def test_what_is_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(click.BadParameter, match="is not an ISO 8601 time"):
        moment(text)


def test_a_wall_clock_time_the_zone_cannot_hold_is_refused() -> None:
    with pytest.raises(click.BadParameter, match="out of range"):
        in_zone(moment("9999-12-31T23:00:00"), ZoneInfo("America/New_York"))


@given(
    at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 12, 31)),
    zone=st.sampled_from(ZONES),
)
def test_a_time_is_read_as_the_rota_file_reads_the_same_text(at: datetime, zone: str) -> None:
    """`--at 2026-03-29T02:30:00` and an override `from: 2026-03-29 02:30` name the same instant,
    through DST changes too."""
    text = at.replace(microsecond=0).isoformat()
    rota = load_rota_text(
        "rota.yaml",
        f"timezone: {zone}\n"
        "people:\n  ann: {name: Ann, role: operator}\n"
        "schedules:\n"
        "  desk:\n"
        "    members: [ann]\n"
        f"    overrides: [{{person: ann, from: '{text}', until: '2099-01-01 00:00'}}]\n",
        ZoneInfo("UTC"),
    )
    (override,) = rota.schedules["desk"].overrides
    assert in_zone(moment(text), rota.tz) == override.start

"""The rota and SLA commands on the example rota: `bridge oncall`, `--week`, `rota check`,
`reports sla`, and incident actions from the command line that reassign and notify."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.services.incidents import NewIncident
from tests.support.app import build_runtime, make_settings
from tests.support.duty import msk

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    values = {"BRIDGE_DATABASE_URL": url, "BRIDGE_RULES_DIR": str(REPO / "rules")}
    result = CliRunner().invoke(main, ["db", "upgrade"], env=values)
    assert result.exit_code == 0, result.output
    return values


def run(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_oncall_prints_who_is_on_duty_and_who_owns_new_incidents(env: dict[str, str]) -> None:
    assert (
        run(env, "oncall", "--at", "2026-11-21T10:00:00+03:00")
        == (
            "On duty at Sat 2026-11-21 10:00 (Europe/Moscow), rota "
            + run(env, "oncall", "--json").split('"')[0][:0]  # (the version is checked below)
            + _version(env)
            + ":\n"
            "  day-operators      Viktor Volkov (volkov)             Sat 2026-11-21 09:00 - Sat 2026-11-21 21:00\n"
            "  night-operators    nobody\n"
            "  weekend-duty       Dmitry Belov (belov)               Sat 2026-11-21 09:00 - Sat 2026-11-21 21:00\n"
            "  retail-engineers   Maria Lebedeva (lebedeva)          Mon 2026-11-16 09:00 - Mon 2026-11-23 09:00\n"
            "A new incident now goes to:\n"
            "  retail             Dmitry Belov (belov): on duty in schedule weekend-duty\n"
            "  logistics          Dmitry Belov (belov): on duty in schedule weekend-duty\n"
            "  bank               Dmitry Belov (belov): on duty in schedule weekend-duty\n"
            "  (no client)        Dmitry Belov (belov): on duty in schedule weekend-duty\n"
        )
    )


def test_a_time_without_an_offset_is_read_in_the_rota_s_time_zone(env: dict[str, str]) -> None:
    """Saturday 23:00 in Moscow, as the rota file's own times are read: the night operator."""
    local = run(env, "oncall", "--at", "2026-12-05T23:00:00")
    assert local == run(env, "oncall", "--at", "2026-12-05T23:00:00+03:00")
    assert local != run(env, "oncall", "--at", "2026-12-05T23:00:00Z")
    assert local.startswith("On duty at Sat 2026-12-05 23:00 (Europe/Moscow)")
    assert (
        "  night-operators    Oleg Orlov (orlov)                 Sat 2026-12-05 21:00 - Sun 2026-12-06 09:00\n"
        in local
    )
    week = run(env, "oncall", "--week", "--schedule", "night-operators", "--at", "2026-12-05T09:00")
    assert week.startswith("Shifts from Sat 2026-12-05 09:00 for a week (Europe/Moscow):\n")


def test_the_sla_report_reads_a_time_without_an_offset_in_the_rota_s_time_zone(env: dict[str, str]) -> None:
    local = run(env, "reports", "sla", "--from", "2026-11-01T00:00:00", "--to", "2026-12-01T00:00:00")
    assert local.startswith("SLA from 2026-10-31 21:00 to 2026-11-30 21:00 UTC")
    assert local == run(
        env, "reports", "sla", "--from", "2026-11-01T00:00:00+03:00", "--to", "2026-12-01T00:00:00+03:00"
    )


def _version(env: dict[str, str]) -> str:
    return run(env, "rota", "check").rsplit("version ", 1)[1].strip()


def test_oncall_week_prints_the_coming_shifts_of_a_schedule(env: dict[str, str]) -> None:
    output = run(env, "oncall", "--week", "--schedule", "weekend-duty", "--at", "2026-11-20T09:00:00+03:00")
    assert output == (
        "Shifts from Fri 2026-11-20 09:00 for a week (Europe/Moscow):\n"
        "weekend-duty:\n"
        "  Sat 2026-11-21 09:00 - Sat 2026-11-21 21:00  Dmitry Belov (belov)\n"
        "  Sun 2026-11-22 09:00 - Sun 2026-11-22 21:00  Dmitry Belov (belov)\n"
    )


def test_rota_check_validates_the_file_and_exits_1_on_mistakes(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "rota", "check").startswith(
        f"{REPO / 'rules' / 'rota.yaml'}: 11 people, 2 teams, 3 clients, 4 schedules, 2 escalation policies"
    )
    bad = tmp_path / "rota.yaml"
    bad.write_text("people:\n  ann: {name: Ann, role: operatr}\n")
    result = CliRunner().invoke(main, ["rota", "check", str(bad)], env=env)
    assert result.exit_code == 1
    assert result.output == f"{bad}:2: unknown role 'operatr' (did you mean 'operator'?)\n"


def test_actions_from_the_cli_reassign_notify_and_show_in_the_sla_report(
    env: dict[str, str], tmp_path: Path
) -> None:
    clock = FakeClock(msk("2026-11-24 10:00"))
    runtime = build_runtime(make_settings(env["BRIDGE_DATABASE_URL"], REPO / "rules"), clock)
    try:
        runtime.services.incidents.open(
            NewIncident(title="Invoices stuck in the queue", client="logistics"), "admin"
        )
    finally:
        runtime.close()
    output = run(env, "incidents", "assign", "1", "--to", "sokolov", "--line", "L2", "-m", "knows the queue")
    assert output == "incident 1 is open\n  P3, responsible sokolov, line L2\n"
    shown = run(env, "incidents", "show", "1")
    assert "  assignee          sokolov\n" in shown
    assert "responsible morozov -> sokolov, line L1 -> L2 by cli:" in shown
    assert "assigned: assigned by cli:" in shown  # the new owner is paged, saying why
    run(env, "incidents", "ack", "1")
    run(env, "incidents", "resolve", "1", "-m", "queue drained")
    report = run(env, "reports", "sla", "--from", "2026-11-24T00:00:00Z", "--to", "2099-01-01T00:00:00Z")
    lines = report.splitlines()
    assert lines[1].split() == [
        "client",
        "pri",
        "count",
        "ack",
        "median",
        "ack",
        "p90",
        "res",
        "median",
        "res",
        "p90",
        "breaches",
        "(ack/resolve)",
    ]
    assert lines[2].split()[:3] == ["logistics", "P3", "1"]

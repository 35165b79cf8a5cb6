"""The `bridge` command: serve + demo as real processes (the README's first command), and the rest."""

from __future__ import annotations

import re
import signal
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.alert import Source
from bridge.cli.main import main
from bridge.clock import FakeClock, SystemClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import store_delivery
from bridge.db.migrate import current_revision, head_revision
from bridge.db.models import Scope
from bridge.services.dispatch import TimerDispatcher
from bridge.services.live import LiveRules
from bridge.services.pipeline import Pipeline
from bridge.services.tokens import TokenService
from bridge.settings import SPECS, Settings
from bridge.sources import parse_delivery
from tests.support.payloads import captured
from tests.support.postgres import free_port
from tests.support.serve import BRIDGE, clean_environment, serving

REPO = Path(__file__).resolve().parents[2]


def test_serve_with_embedded_defaults_then_demo(tmp_path: Path) -> None:
    """`bridge serve` with no configuration but the rules directory, in an empty working directory."""
    env = clean_environment(BRIDGE_RULES_DIR=str(REPO / "rules"))
    with serving(tmp_path, env, free_port()) as served:
        assert (tmp_path / "bridge.db").exists()
        demo = subprocess.run(
            [*BRIDGE, "demo", "--url", served.url],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
            env={**env, "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}"},
            timeout=60,
        )
        assert demo.returncode == 0, demo.stderr
        assert "sent 12 deliveries" in demo.stdout
        assert re.search(r"#\d+ +open +P1 +1 alerts  HostDown on rack-b-0\d", demo.stdout)
        assert "dropped by rule drop-info" in demo.stdout
    assert served.returncode == 0, served.stderr
    tokens = re.findall(r"credentials: (\S+)", served.stdout)
    assert len(tokens) == 1, served.stdout  # the generated Alertmanager token, with its receiver snippet
    assert "{$BRIDGE.TOKEN} = " in served.stdout
    assert "database upgraded from empty" in served.stderr
    assert tokens[0] not in served.stderr  # printed once for the operator, never logged


def test_serve_refuses_bad_rules_with_file_and_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text("rules:\n  - name: x\n    for: ten\n")
    result = CliRunner().invoke(
        main,
        ["serve", "--port", str(free_port())],
        env={"BRIDGE_RULES_DIR": str(rules), "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/b.db"},
    )
    assert result.exit_code == 1
    assert f"{rules / 'rules.yaml'}:3: 'ten' is not a duration" in result.output


def test_worker_needs_redis(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["worker"], env={})
    assert result.exit_code == 1
    assert "bridge worker takes its jobs from Redis: set BRIDGE_REDIS_URL" in result.output


def test_serve_refuses_a_bad_setting_clearly(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["serve"], env={"BRIDGE_TIMEZONE": "Nowhere/City"})
    assert result.exit_code == 1
    assert "BRIDGE_TIMEZONE='Nowhere/City': not a known IANA time zone" in result.output


def test_db_upgrade_and_incident_commands(database_url: str) -> None:
    env = {"BRIDGE_DATABASE_URL": database_url}
    runner = CliRunner()
    result = runner.invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    engine = create_db_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()

    capture = captured("alertmanager/01-firing-single.json")
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    store_delivery(
        sessions,
        parse_delivery(Source.ALERTMANAGER, capture.body_raw, capture.received_at),
        capture.body_raw,
        capture.received_at,
    )
    clock = FakeClock(capture.received_at)
    pipeline = Pipeline(sessions, LiveRules(REPO / "rules"), clock)
    pipeline.process_pending()
    clock.advance(timedelta(minutes=11))  # the example rules hold CPU alerts for 10m
    timers = TimerDispatcher(sessions, clock)
    timers.register_all(pipeline.timer_handlers())
    timers.run_due()
    engine.dispose()
    listed = runner.invoke(main, ["incidents", "list"], env=env)
    assert listed.exit_code == 0
    assert re.search(r"^\s+1  open +P2 +1  2026-11-22 07:01:09  AccHighCPU on web-01$", listed.output, re.M)
    acked = runner.invoke(main, ["incidents", "ack", "1", "-m", "on it", "--as", "ivanov"], env=env)
    assert (acked.exit_code, acked.output) == (0, "incident 1 is acknowledged\n")
    shown = runner.invoke(main, ["incidents", "show", "1"], env=env)
    assert "cli:ivanov acknowledged by cli:ivanov: on it" in shown.output
    refused = runner.invoke(main, ["incidents", "ack", "1"], env=env)
    assert (refused.exit_code, refused.output.strip()) == (
        1,
        "Error: incident 1 is acknowledged: cannot ack it",
    )
    resolved = runner.invoke(main, ["incidents", "resolve", "1"], env=env)
    assert resolved.output == "incident 1 is resolved\n"


def test_rules_check_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["rules", "check", str(REPO / "rules")])
    assert good.exit_code == 0
    assert "OK, 17 rules and 1 maintenance windows in 1 files" in good.output
    assert re.search(
        r"disk-space +group by source\+host\+name, for 15m, priority critical=P2, else P3", good.output
    )
    assert re.search(r"watchdog +heartbeat every 1h30m", good.output)
    assert "maintenance db-nightly: sun 03:00-05:00 Europe/Moscow, host=~'db-.*'" in good.output
    (tmp_path / "bad.yaml").write_text("rules:\n  - name: a\n    match: {name: '=~('}\n")
    bad = runner.invoke(main, ["rules", "check", str(tmp_path)])
    assert bad.exit_code == 1
    assert f"{tmp_path / 'bad.yaml'}:3: bad regular expression" in bad.output


def test_tokens_rotate_replaces_stored_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/b.db"
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env={"BRIDGE_DATABASE_URL": url}).exit_code == 0
    first = runner.invoke(
        main, ["tokens", "rotate", "zabbix"], env={"BRIDGE_DATABASE_URL": url}
    ).output.strip()
    second = runner.invoke(
        main, ["tokens", "rotate", "zabbix"], env={"BRIDGE_DATABASE_URL": url}
    ).output.strip()
    assert len(first) >= 40 and first != second

    engine = create_db_engine(url)
    verifier = TokenService(make_session_factory(engine), Settings(database_url=url), SystemClock())
    assert not verifier.check(Scope.ZABBIX, first)
    assert verifier.check(Scope.ZABBIX, second)
    assert not verifier.check(Scope.ALERTMANAGER, second)
    engine.dispose()
    pinned = runner.invoke(
        main, ["tokens", "rotate", "zabbix"], env={"BRIDGE_DATABASE_URL": url, "BRIDGE_ZABBIX_TOKEN": "x"}
    )
    assert pinned.exit_code == 1
    assert "set by BRIDGE_ZABBIX_TOKEN" in pinned.output


def test_config_markdown_lists_every_setting() -> None:

    output = CliRunner().invoke(main, ["config", "--markdown"]).output
    for spec in SPECS:
        assert f"| `{spec.env}` |" in output


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX only")
def test_unknown_settings_are_warned_about(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config"], env={"BRIDGE_DATABSE_URL": "x"})
    assert "warning: unknown setting BRIDGE_DATABSE_URL (did you mean BRIDGE_DATABASE_URL?)" in result.output


def test_the_readme_configuration_table_is_the_one_bridge_prints() -> None:
    table = CliRunner().invoke(main, ["config", "--markdown"]).output.strip()
    assert table in (REPO / "README.md").read_text()

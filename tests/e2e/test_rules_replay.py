"""`bridge rules replay`, `bridge intake export` and `bridge rules explain` end to end: a generated
week posted through the real webhooks and processed by the pipeline on a real database, then
replayed from the database and from an exported trace."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bench.week import WEEK_START, week
from bridge.alert import Source
from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.replay.trace import write_trace
from bridge.settings import Settings
from tests.support.api import Api
from tests.support.app import make_settings
from tests.support.payloads import FIXTURES

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """The example rules (and rota), as shipped."""
    target = tmp_path / "rules"
    shutil.copytree(REPO_RULES, target, ignore=shutil.ignore_patterns("tests"))
    return target


@pytest.fixture
def settings(database_url: str, rules_dir: Path) -> Settings:
    return make_settings(database_url, rules_dir)


def incidents_of(summary: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (i["group_key"], i["rule"], i["priority"], i["opened_at"], i["resolved_at"], i["reopen_count"])
        for i in summary["incidents"]
    ]


def replay(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(main, ["rules", "replay", "--json", "--no-progress", *args], env=env)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


@pytest.mark.timeout(360)  # a whole week through the live pipeline, then twice through replay
def test_a_replayed_week_gives_what_the_pipeline_did_and_a_trace_replays_the_same(
    api: Api, clock: FakeClock, settings: Settings, database_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    deliveries = week(hosts=6, seed=11)
    for delivery in deliveries:
        clock.set(delivery.received_at - timedelta(microseconds=1))  # what was due before it, first
        api.drain()
        clock.set(delivery.received_at)
        post = api.alertmanager if delivery.source is Source.ALERTMANAGER else api.zabbix
        assert post(delivery.body).status_code == 202
        api.drain()
    until = deliveries[-1].received_at + timedelta(hours=2)
    clock.set(until)
    api.drain()

    env = {"BRIDGE_DATABASE_URL": database_url, "BRIDGE_RULES_DIR": str(rules_dir)}
    window = ["--from", WEEK_START.isoformat(), "--until", until.isoformat()]
    replayed = replay(env, *window)
    recorded = replayed["baseline"]
    assert replayed["alerts"] == recorded["alerts"] == len(deliveries)
    assert replayed["incidents_opened"] > 10
    assert incidents_of(replayed) == incidents_of(recorded)
    # Asked to split by host between two processes, it is the same replay (the example rules
    # correlate storms, so it runs on one process and says so).
    assert replay(env, *window, "--jobs", "2") == replayed
    rules = {i["rule"] for i in replayed["incidents"]}
    assert {"cpu-load", "watchdog"} <= rules  # the week's sustained CPU and its lost Watchdog
    assert replayed["suppressed"]["for"] > 0 and replayed["suppressed"]["dropped"] > 0

    trace = tmp_path / "week.jsonl"
    exported = CliRunner().invoke(
        main, ["intake", "export", "--from", WEEK_START.isoformat(), "-o", str(trace)], env=env
    )
    assert exported.exit_code == 0, exported.output
    assert len(trace.read_text().splitlines()) == len(deliveries)
    from_trace = replay(env, "--input", str(trace), "--until", until.isoformat())
    shown = CliRunner().invoke(
        main, ["rules", "replay", "--json", "--progress", "--input", str(trace)], env=env
    )
    assert "replaying" in shown.stderr  # the bar goes to stderr; stdout stays one JSON object
    assert json.loads(shown.stdout)["alerts"] == len(deliveries)
    assert "baseline" not in from_trace
    assert from_trace["alerts"] == len(deliveries)
    assert incidents_of(from_trace) == incidents_of(replayed)
    assert from_trace["suppressed"] == replayed["suppressed"]


def test_candidate_rules_are_compared_with_the_live_ones(
    database_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    trace = tmp_path / "week.jsonl"
    with trace.open("w") as out:
        write_trace(week(hosts=8, seed=3), out)
    candidate = tmp_path / "candidate"
    shutil.copytree(rules_dir, candidate)
    text = (candidate / "rules.yaml").read_text()
    (candidate / "rules.yaml").write_text(
        text.replace(
            "    for: 10m\n    storm: false\n    priority:\n      critical: P2",
            "    for: 20m\n    storm: false\n    priority:\n      critical: P2",
        )
    )
    env = {"BRIDGE_DATABASE_URL": database_url, "BRIDGE_RULES_DIR": str(rules_dir)}
    both = replay(env, "--input", str(trace), "--rules", str(candidate), "--against", str(rules_dir))
    live = both["baseline"]
    assert both["label"] == "candidate" and live["label"] == str(rules_dir)
    assert both["alerts"] == live["alerts"]
    # A longer hold on CPU opens fewer CPU incidents and suppresses more, later.
    assert both["rules"]["cpu-load"]["incidents"] < live["rules"]["cpu-load"]["incidents"]
    assert both["suppressed"]["for"] > live["suppressed"]["for"]
    assert both["rules"]["disk-space"] == live["rules"]["disk-space"]

    text_report = CliRunner().invoke(
        main,
        [
            "rules",
            "replay",
            "--no-progress",
            "--input",
            str(trace),
            "--rules",
            str(candidate),
            "--against",
            str(rules_dir),
        ],
        env=env,
    )
    assert text_report.exit_code == 0, text_report.output
    lines = text_report.output.splitlines()
    opened = next(line for line in lines if line.strip().startswith("incidents opened"))
    assert opened.split()[-2:] == [f"{both['incidents_opened']:,}", f"{live['incidents_opened']:,}"]
    assert any(line.strip().startswith("cpu-load") for line in lines)


def test_a_bad_trace_line_is_refused_with_its_line(
    database_url: str, rules_dir: Path, tmp_path: Path
) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text(
        '{"source":"alertmanager","received_at":"2026-11-23T00:00:00Z","body":{"alerts":[],"version":"4"}}\n'
        '{"source":"alertmanager","received_at":"2026-11-23 00:00","body":{}}\n'
    )
    env = {"BRIDGE_DATABASE_URL": database_url, "BRIDGE_RULES_DIR": str(rules_dir)}
    result = CliRunner().invoke(main, ["rules", "replay", "--input", str(trace)], env=env)
    assert result.exit_code == 1
    assert f"{trace}:2: received_at '2026-11-23 00:00' has no time zone (add Z or +03:00)" in result.output


def test_explain_says_which_rule_and_why_not_the_earlier_ones(rules_dir: Path, tmp_path: Path) -> None:
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "NodeFilesystemAlmostOutOfSpace",
            "instance": "db-01:9100",
            "severity": "critical",
        },
        "annotations": {},
        "startsAt": "2026-11-29T00:30:00Z",
    }
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert))
    result = CliRunner().invoke(
        main, ["rules", "explain", str(path), "--rules", str(rules_dir), "--at", "2026-11-29T00:30:00Z"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "alert 'NodeFilesystemAlmostOutOfSpace' on db-01 from alertmanager, critical"
    assert any(
        "no match   watchdog" in line
        and "name='Watchdog' does not match: name is 'NodeFilesystemAlmostOutOfSpace'" in line
        for line in lines
    )
    assert any(line.startswith("  matched    disk-space (") for line in lines)
    assert "rule in force: disk-space" in lines
    assert "  opens an incident after firing for 15m" in lines
    assert "  priority P2 for severity critical" in lines
    # Sunday 03:30 in Moscow: the db-nightly window covers db-01.
    assert "  at 2026-11-29 00:30 UTC it is in maintenance db-nightly until 02:00 UTC" in lines
    assert not any("inhibited while" in line for line in lines)  # host-down spares critical alerts
    alert["labels"]["severity"] = "warning"
    path.write_text(json.dumps(alert))
    warning = CliRunner().invoke(main, ["rules", "explain", str(path), "--rules", str(rules_dir)])
    assert "  inhibited while an alert of rule host-down fires with equal host" in warning.output.splitlines()

    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    refused = CliRunner().invoke(main, ["rules", "explain", str(bad), "--rules", str(rules_dir)])
    assert refused.exit_code == 1
    assert "body: must be a JSON object" in refused.output


@pytest.mark.parametrize(
    ("capture", "first_line"),
    [
        (
            "zabbix/01-problem.json",
            "alert 'High CPU load on Acceptance bridge host' on acc-bridge-host from zabbix, high",
        ),
        ("alertmanager/01-firing-single.json", "alert 'AccHighCPU' on web-01 from alertmanager, critical"),
    ],
)
def test_explain_reads_a_captured_delivery_file_as_its_body(
    rules_dir: Path, capture: str, first_line: str
) -> None:
    result = CliRunner().invoke(
        main, ["rules", "explain", str(FIXTURES / capture), "--rules", str(rules_dir)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == first_line
    assert any(line.startswith("rule in force: ") for line in result.output.splitlines())


def test_a_database_that_is_not_bridges_gets_a_message_not_a_traceback(
    rules_dir: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as connection:  # some other program's database
        connection.execute("CREATE TABLE notes (text TEXT)")
    env = {"BRIDGE_DATABASE_URL": f"sqlite:///{other}", "BRIDGE_RULES_DIR": str(rules_dir)}
    for command in (["rules", "replay", "--since", "1d"], ["intake", "export"]):
        result = CliRunner().invoke(main, command, env=env)
        assert result.exit_code == 1, result.output
        assert (
            "cannot read the history from BRIDGE_DATABASE_URL (OperationalError: no such table:"
            in result.output
        )
        assert "`bridge db upgrade`" in result.output

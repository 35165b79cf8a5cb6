"""`bridge rules tune` on the database: the history posted through the real webhooks and stored
by the intake says what the same history as a trace says."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from bridge.alert import Source
from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.replay.trace import write_trace
from tests.support.api import Api
from tests.support.histories import RULES, deliveries, history


def test_tune_reads_the_stored_history_as_it_reads_a_trace(
    api: Api, clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    rules_dir = tmp_path / "tune-rules"
    rules_dir.mkdir()
    (rules_dir / "rules.yaml").write_text(RULES)
    trace = deliveries(history([60.0, 90.0] * 5, [3600.0] * 2, weeks=2))
    for delivery in trace:
        clock.set(delivery.received_at)
        post = api.alertmanager if delivery.source is Source.ALERTMANAGER else api.zabbix
        assert post(delivery.body).status_code == 202
        api.drain()
    path = tmp_path / "history.jsonl"
    with path.open("w") as out:
        write_trace(trace, out)
    env = {"BRIDGE_DATABASE_URL": database_url, "BRIDGE_TIMEZONE": "Europe/Moscow"}
    window = [
        "--from",
        trace[0].received_at.isoformat(),
        "--until",
        (trace[-1].received_at + timedelta(seconds=1)).isoformat(),
    ]
    common = ["rules", "tune", "--rules", str(rules_dir), "--json", "--against"]
    stored = CliRunner().invoke(main, [*common, *window], env=env)
    assert stored.exit_code == 0, stored.output
    traced = CliRunner().invoke(main, [*common, "--input", str(path)], env=env)
    assert traced.exit_code == 0, traced.output
    from_db, from_trace = json.loads(stored.output), json.loads(traced.output)
    assert from_db["deliveries"] == len(trace)
    assert from_db == from_trace
    ping = next(n for n in from_db["names"] if n["name"] == "PingLoss")
    assert ping["proposed_for_s"] == 120.0
    assert [p["host_match"] for p in from_db["weekly_patterns"]] == ["=~db-.*"]
    assert from_db["against"]["patched"]["incidents_opened"] == 2

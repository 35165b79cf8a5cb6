"""bridge's own metrics, each asserted on the registry of a fresh runtime after driving the real
services: incidents opened and open, the oldest unacknowledged, suppressions by reason, escalation
steps, SLA breaches (with the fake clock), notifications through a real HTTP receiver that fails
once, rules reloads good and bad, and an integration error against a closed port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.clock import FakeClock
from bridge.services.metrics import MANUAL
from bridge.worker.runtime import Runtime
from tests.support.app import AM_TOKEN, build_runtime, make_settings, write_rules
from tests.support.duty import Desk, running_desk
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import free_port

RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: drop-info
    match: {severity: info}
    action: drop
  - name: disk-slow
    match: {name: DiskSlow}
    for: 10m
  - name: outage
    match: {name: HostDown}
    priority: P1
  - name: everything-else
maintenance:
  - name: backups
    match: {host: db-03}
    from: 2026-11-22 06:00
    until: 2026-11-22 08:00
"""


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    with running_desk(database_url, tmp_path, clock, RULES) as running:
        yield running


def value(runtime: Runtime, name: str, **labels: str) -> float:
    """A sample of the runtime's own registry (0 when the series does not exist)."""
    found = runtime.services.metrics.registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def post_alerts(desk: Desk, *alerts: dict[str, object]) -> None:
    response = desk.client.post(
        "/webhooks/alertmanager",
        data=json.dumps(am_notification(*alerts)),
        headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.get_json()
    desk.drain()


def alert(name: str, host: str, severity: str = "warning") -> dict[str, object]:
    return am_alert(
        name,
        starts_at="2026-11-22T06:50:00Z",
        fingerprint=f"{name}-{host}",
        instance=f"{host}:9100",
        severity=severity,
    )


def test_incidents_opened_count_by_priority_and_rule_and_the_open_ones_are_read_at_scrape_time(
    desk: Desk, clock: FakeClock
) -> None:
    runtime = desk.runtime
    post_alerts(desk, alert("HostDown", "web-01", "critical"), alert("HighCPU", "web-02"))
    desk.open(title="Phones ring about shipping", client="logistics", priority="P2")
    assert value(runtime, "bridge_incidents_opened_total", priority="P1", rule="outage") == 1
    assert value(runtime, "bridge_incidents_opened_total", priority="P3", rule="everything-else") == 1
    assert value(runtime, "bridge_incidents_opened_total", priority="P2", rule=MANUAL) == 1
    assert value(runtime, "bridge_incidents_open", priority="P1", status="open") == 1
    assert value(runtime, "bridge_incidents_open", priority="P2", status="open") == 1

    clock.advance(timedelta(minutes=10))
    assert value(runtime, "bridge_oldest_unacknowledged_seconds", priority="P1") == 600
    desk.act(1, "ack")
    assert value(runtime, "bridge_oldest_unacknowledged_seconds", priority="P1") == 0
    assert value(runtime, "bridge_incidents_open", priority="P1", status="open") == 0
    assert value(runtime, "bridge_incidents_open", priority="P1", status="acknowledged") == 1
    assert value(runtime, "bridge_oldest_unacknowledged_seconds", priority="P3") == 600
    # Every delivery was processed: nothing waits, the queue has no lag.
    assert value(runtime, "bridge_queue_lag_seconds") == 0
    assert value(runtime, "bridge_intake_oldest_pending_seconds") == 0
    assert value(runtime, "bridge_processing_seconds_count") >= 1


def test_a_delivery_waiting_for_the_worker_shows_as_queue_lag(desk: Desk, clock: FakeClock) -> None:
    response = desk.client.post(
        "/webhooks/alertmanager",
        data=json.dumps(am_notification(alert("HighCPU", "web-02"))),
        headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
    )
    assert response.status_code == 202
    clock.advance(timedelta(seconds=42))
    assert value(desk.runtime, "bridge_queue_lag_seconds") == 42
    assert value(desk.runtime, "bridge_intake_oldest_pending_seconds") == 42
    desk.drain()
    assert value(desk.runtime, "bridge_queue_lag_seconds") == 0


def test_suppressed_alerts_count_by_reason_and_rule(desk: Desk) -> None:
    runtime = desk.runtime
    post_alerts(
        desk,
        alert("Chatter", "web-01", "info"),  # dropped
        alert("DiskSlow", "web-02"),  # held by for: 10m
        alert("HighCPU", "db-03"),  # in the backups maintenance window
        alert("HighCPU", "web-03"),  # opens an incident
    )
    # Alertmanager re-sends the group: the held alert is held again, the other is a duplicate.
    post_alerts(desk, alert("DiskSlow", "web-02"), alert("HighCPU", "web-03"))
    assert value(runtime, "bridge_alerts_suppressed_total", reason="dropped", rule="drop-info") == 1
    assert value(runtime, "bridge_alerts_suppressed_total", reason="held", rule="disk-slow") == 2
    assert value(runtime, "bridge_alerts_suppressed_total", reason="maintenance", rule="everything-else") == 1
    assert value(runtime, "bridge_alerts_suppressed_total", reason="duplicate", rule="everything-else") == 1
    assert value(runtime, "bridge_incidents_opened_total", priority="P3", rule="everything-else") == 1


def test_escalation_steps_and_sla_breaches_count_as_the_fake_clock_runs(desk: Desk) -> None:
    runtime = desk.runtime
    desk.at("2026-11-24 03:00")
    desk.open(title="Warehouse scanners cannot reach WMS", client="logistics", priority="P1")
    assert value(runtime, "bridge_sla_breaches_total", priority="P1") == 0
    desk.at("2026-11-24 05:00")  # hours later, never acknowledged: every P1 target breached
    assert value(runtime, "bridge_sla_breaches_total", priority="P1") == 2
    assert desk.timeline(1, "sla_breached")
    steps = {s: value(runtime, "bridge_escalations_total", step=s) for s in ("1", "2", "3", "4")}
    # Step 1 paged at the opening, 2 and 3 as they timed out (the first breach jumped to 2),
    # 4 at the second breach, then the policy's second round: 1 and 2 again.
    assert steps == {"1": 2, "2": 2, "3": 1, "4": 1}
    assert sum(steps.values()) == len([p for p in desk.pages(1) if not p.startswith("breach")])


def test_notifications_count_sent_and_failed_and_a_failing_peer_counts_as_an_integration_error(
    desk: Desk,
) -> None:
    runtime = desk.runtime
    desk.http.failures["/bot"] = [500]  # Telegram answers 500 once, then accepts
    desk.at("2026-11-24 03:00")
    desk.open(title="Route planner returns 502", client="logistics", priority="P3")
    desk.at("2026-11-24 03:05")  # past the retry's backoff
    assert value(runtime, "bridge_notifications_total", channel="telegram", result="failed") == 1
    assert (
        value(runtime, "bridge_notifications_total", channel="telegram", result="sent")
        == len(desk.http.posted("/bot"))  # the receiver keeps the messages it accepted
        >= 1
    )
    assert value(runtime, "bridge_notifications_total", channel="email", result="sent") == len(
        desk.inbox.mails
    )
    assert value(runtime, "bridge_notifications_total", channel="email", result="failed") == 0
    assert value(runtime, "bridge_integration_errors_total", peer="telegram") == 1
    assert value(runtime, "bridge_integration_errors_total", peer="smtp") == 0


def test_rules_reloads_count_good_and_bad(desk: Desk) -> None:
    runtime = desk.runtime
    rules = desk.rules_dir / "rules.yaml"
    rules.write_text(RULES.replace("action: drop", "action: explode"))
    assert desk.post("/api/rules/reload").status_code == 422
    assert value(runtime, "bridge_rules_reload_total", result="error") == 1
    assert value(runtime, "bridge_rules_reload_total", result="ok") == 0
    rules.write_text(RULES)
    assert desk.post("/api/rules/reload").status_code == 200
    assert value(runtime, "bridge_rules_reload_total", result="ok") == 1


def test_a_peer_on_a_closed_port_counts_as_an_integration_error(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = make_settings(database_url, write_rules(tmp_path / "rules", RULES), alertmanager_url=closed)
    runtime = build_runtime(settings, clock)
    try:
        assert value(runtime, "bridge_integration_errors_total", peer="alertmanager") == 0
        runtime.runner.drain()  # the first tick runs the reconciliation with Alertmanager
        assert value(runtime, "bridge_periodic_runs_total", job="reconcile:alertmanager", result="error") == 1
        assert value(runtime, "bridge_integration_errors_total", peer="alertmanager") == 1
        assert value(runtime, "bridge_integration_errors_total", peer="zabbix") == 0
    finally:
        runtime.close()


def test_a_second_runtime_starts_from_a_fresh_registry(desk: Desk, database_url: str, tmp_path: Path) -> None:
    post_alerts(desk, alert("HostDown", "web-01", "critical"))
    assert value(desk.runtime, "bridge_incidents_opened_total", priority="P1", rule="outage") == 1
    other = build_runtime(make_settings(database_url, desk.rules_dir), FakeClock(desk.clock.now()))
    try:
        assert value(other, "bridge_incidents_opened_total", priority="P1", rule="outage") == 0
        # ...while what the database holds is the same for both.
        assert value(other, "bridge_incidents_open", priority="P1", status="open") == 1
    finally:
        other.close()

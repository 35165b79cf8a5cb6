"""/metrics on the production stack: gunicorn with 2 workers and 2 `bridge worker` processes
sharing one PROMETHEUS_MULTIPROC_DIR, on a PostgreSQL and a Redis the tests start. Webhooks are
answered by both web processes and processed by the workers, so the figures only add up if
/metrics sums every process's counters."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_production_stack import RULES, notification
from tests.support.app import write_rules
from tests.support.postgres import fresh_database
from tests.support.stack import Stack, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(300)]

EXPORTED = [
    "bridge_webhook_deliveries_total",
    "bridge_alerts_received_total",
    "bridge_webhook_seconds",
    "bridge_decisions_total",
    "bridge_incidents_opened_total",
    "bridge_incidents_open",
    "bridge_incidents",
    "bridge_oldest_unacknowledged_seconds",
    "bridge_intake",
    "bridge_intake_oldest_pending_seconds",
    "bridge_queue_lag_seconds",
    "bridge_processing_seconds",
    "bridge_alerts_suppressed_total",
    "bridge_escalations_total",
    "bridge_notifications_total",
    "bridge_notifications_queued",
    "bridge_rules_reload_total",
    "bridge_sla_breaches_total",
    "bridge_integration_errors_total",
    "bridge_outbox_jobs_total",
    "bridge_periodic_runs_total",
]


@pytest.fixture
def stack(postgres_server: str, redis_url: str, tmp_path: Path) -> Iterator[Stack]:
    with fresh_database(postgres_server) as database:
        shared = tmp_path / "prometheus"
        running = Stack(
            database,
            redis_url,
            write_rules(tmp_path / "rules", RULES),
            tmp_path / "logs",
            web_workers=2,
            extra_env={"PROMETHEUS_MULTIPROC_DIR": str(shared)},
        )
        running.migrate()
        try:
            yield running
        finally:
            running.stop()


def shared_files(stack: Stack) -> list[Path]:
    return list(Path(stack.extra_env["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"))


def total(metrics: str, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    found = 0.0
    for line in metrics.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if match is None or match[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            found += float(match[3])
    return found


def test_metrics_add_up_every_web_and_worker_process(stack: Stack) -> None:
    first = stack.start_worker()  # before gunicorn, which keeps the files of running processes
    wait_for(lambda: any(shared_files(stack)), 30, "the first worker's metrics files")
    stack.start_web()
    assert first.poll() is None
    stack.start_worker()
    bodies = [notification(i, 20, 10) for i in range(10)]
    assert [stack.post(raw).status_code for raw in bodies] == [202] * 10
    stack.wait_processed(10)
    incidents = stack.api("/api/incidents?limit=500")["total"]
    alerts = sum(len(json.loads(raw)["alerts"]) for raw in bodies)

    metrics = stack.http.get(f"{stack.url}/metrics", timeout=5).text
    families = set(re.findall(r"^# TYPE (\w+) ", metrics, re.M))
    for name in EXPORTED:
        assert name in families, name
    # Both web processes answered webhooks; the sum is every delivery, whichever one is asked.
    assert total(metrics, "bridge_webhook_deliveries_total", answer="202") == 10
    assert total(metrics, "bridge_alerts_received_total", source="alertmanager") == alerts
    assert total(metrics, "bridge_webhook_seconds_count") == 10
    # The workers decided: their counters reach the web tier's /metrics through the directory.
    assert total(metrics, "bridge_incidents_opened_total") == incidents > 0
    assert total(metrics, "bridge_decisions_total") == alerts
    assert total(metrics, "bridge_processing_seconds_count") >= 1
    for reason in ("dropped", "duplicate"):  # each kept-out event once, in the worker that decided it
        decided = total(metrics, "bridge_decisions_total", outcome=reason)
        assert total(metrics, "bridge_alerts_suppressed_total", reason=reason) == decided > 0
    # The database's gauges, once each, whichever process answers.
    assert total(metrics, "bridge_incidents_open") == incidents
    assert total(metrics, "bridge_queue_lag_seconds") == 0
    assert total(metrics, "bridge_intake", status="pending") == 0
    assert 'bridge_integration_errors_total{peer="zabbix"} 0.0' in metrics
    assert "# HELP bridge_incidents_opened_total Incidents opened" in metrics

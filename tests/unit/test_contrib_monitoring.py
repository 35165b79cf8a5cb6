"""What contrib/ ships to watch bridge itself: the Prometheus alerting rules (checked and
unit-tested by promtool) and the Grafana dashboard, whose every expression may only name metrics
that bridge exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from sqlalchemy.orm import sessionmaker

from bridge.clock import FakeClock
from bridge.services.metrics import DatabaseCollector, Metrics
from tests.conftest import START, unavailable

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
RULES = CONTRIB / "prometheus" / "bridge-rules.yml"
DASHBOARD = CONTRIB / "grafana" / "bridge-dashboard.json"
METRIC_NAME = re.compile(r"\bbridge_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gauge": ("",),
}


def exported() -> set[str]:
    """Every sample name bridge's registry exposes: its counters and histograms, and the gauges
    its database collector reads at scrape time."""
    metrics = Metrics(CollectorRegistry())
    database = DatabaseCollector(sessionmaker(), FakeClock(START))
    families = [f for c in metrics.counted() for f in c.describe()] + database.describe()
    return {f.name + suffix for f in families for suffix in SUFFIXES[f.type]}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        unavailable(
            "promtool is not installed (Debian: apt-get install prometheus; scripts/bootstrap --dev does)"
        )
    assert found is not None
    return found


def test_the_alerting_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout


def test_the_alerting_rules_pass_their_promtool_unit_tests() -> None:
    test = RULES.with_name("bridge-rules.test.yml")
    result = subprocess.run(
        [promtool(), "test", "rules", test.name], check=False, capture_output=True, text=True, cwd=test.parent
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerting_rules_only_use_metrics_bridge_exports() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    used = {name for r in rules for name in METRIC_NAME.findall(r["expr"])}
    assert used and used <= exported(), used - exported()


def expressions(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]


def test_every_dashboard_expression_uses_only_metrics_bridge_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = exported()
    for title, expr in expressions(dashboard):
        names = set(METRIC_NAME.findall(expr))
        assert names, (title, expr)
        assert names <= known, (title, names - known)


def test_the_dashboard_covers_what_an_operator_watches_and_asks_for_its_datasource() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 39
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"])
    used = {name for _, expr in expressions(dashboard) for name in METRIC_NAME.findall(expr)}
    for wanted in (
        "bridge_alerts_received_total",
        "bridge_webhook_seconds_bucket",
        "bridge_queue_lag_seconds",
        "bridge_processing_seconds_bucket",
        "bridge_incidents_opened_total",
        "bridge_incidents_open",
        "bridge_oldest_unacknowledged_seconds",
        "bridge_alerts_suppressed_total",
        "bridge_notifications_total",
        "bridge_escalations_total",
        "bridge_sla_breaches_total",
        "bridge_integration_errors_total",
    ):
        assert wanted in used, wanted
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("name", ["bridge_nonexistent_total", "bridge_incidents_opened"])
def test_the_name_check_catches_a_metric_bridge_does_not_export(name: str) -> None:
    assert name not in exported()


def test_the_compose_demo_prometheus_loads_bridges_rules(tmp_path: Path) -> None:
    """docker-compose.yml mounts these files under /etc/prometheus: the same layout here."""
    compose = CONTRIB / "compose"
    for source in (compose / "demo-alerts.yml", RULES):
        shutil.copy(source, tmp_path / source.name)
    config = (compose / "prometheus.yml").read_text().replace("/etc/prometheus/", f"{tmp_path}/")
    (tmp_path / "prometheus.yml").write_text(config)
    result = subprocess.run(
        [promtool(), "check", "config", str(tmp_path / "prometheus.yml")],
        check=False,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bridge-rules.yml" in result.stdout and "SUCCESS: 9 rules found" in result.stdout

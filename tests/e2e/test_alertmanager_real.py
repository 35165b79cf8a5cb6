"""bridge with a real Alertmanager: notifications, silences on acknowledge, reconciliation."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.clock import SystemClock
from bridge.services.live import LiveRules
from bridge.settings import Settings
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.conftest import unavailable
from tests.support.alertmanager import Alertmanager, Unavailable, alert, alertmanager
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, make_settings, serving, write_rules
from tests.support.postgres import free_port

RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 0s
  reopen_within: 1h
rules:
  - name: host-down
    match: {name: HostDown}
    priority: P1
    silence_on_ack: 2h
"""


@dataclass
class Bridge:
    url: str
    runtime: Runtime

    def get(self, path: str, **params: Any) -> Any:
        response = requests.get(
            f"{self.url}{path}", params=params, timeout=5, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        response.raise_for_status()
        return response.json()

    def act(self, number: int, action: str) -> None:
        response = requests.post(
            f"{self.url}/api/incidents/{number}/{action}",
            json={},
            timeout=5,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
        assert response.status_code == 200, response.text


@contextmanager
def bridge_server(settings: Settings, port: int) -> Iterator[Bridge]:
    runtime = Runtime.build(settings, SystemClock(), LiveRules(settings.rules_dir))
    try:
        with serving(create_app(runtime=runtime), port) as url:
            runtime.runner.start()
            try:
                yield Bridge(url, runtime)
            finally:
                runtime.runner.stop()
    finally:
        runtime.close()


def incident_fingerprint(detail: dict[str, Any]) -> str:
    (alert_,) = detail["alerts"]
    return str(alert_["fingerprint"])


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {check.__doc__ or check}")
        time.sleep(0.2)


@pytest.fixture
def am_settings(database_url: str, tmp_path: Path) -> Settings:

    return make_settings(database_url, write_rules(tmp_path / "rules", RULES)).with_overrides(
        tick_seconds=0.2
    )


@contextmanager
def running_alertmanager(webhook_url: str) -> Iterator[Alertmanager]:
    try:
        with alertmanager(webhook_url, AM_TOKEN) as manager:
            yield manager
    except Unavailable as exc:
        unavailable(str(exc))


def test_alerts_reach_bridge_open_incidents_and_resolve_them(am_settings: Settings) -> None:
    port = free_port()
    with (
        bridge_server(am_settings, port) as bridge,
        running_alertmanager(f"http://127.0.0.1:{port}/webhooks/alertmanager") as manager,
    ):
        manager.post_alerts(
            alert("HostDown", "db-01:9100"), alert("DiskFull", "db-02:9100", severity="warning")
        )

        def two_incidents() -> list[dict[str, Any]]:
            items = bridge.get("/api/incidents")["items"]
            return items if len(items) == 2 else []

        incidents = {i["title"]: i for i in eventually(two_incidents)}
        assert incidents["HostDown on db-01"]["priority"] == "P1"
        assert incidents["HostDown on db-01"]["status"] == "open"
        manager.post_alerts(alert("HostDown", "db-01:9100", resolved=True))
        number = incidents["HostDown on db-01"]["number"]
        eventually(lambda: bridge.get(f"/api/incidents/{number}")["status"] == "resolved")
        assert bridge.get(f"/api/incidents/{incidents['DiskFull on db-02']['number']}")["status"] == "open"


def test_acknowledging_creates_a_real_silence_and_resolving_expires_it(
    database_url: str, tmp_path: Path, am_settings: Settings
) -> None:
    port = free_port()
    with running_alertmanager(f"http://127.0.0.1:{port}/webhooks/alertmanager") as manager:
        settings = am_settings.with_overrides(
            alertmanager_url=manager.url, alertmanager_reconcile=timedelta(0)
        )
        with bridge_server(settings, port) as bridge:
            manager.post_alerts(alert("HostDown", "db-01:9100"))
            (incident,) = eventually(lambda: bridge.get("/api/incidents")["items"])
            bridge.act(incident["number"], "ack")

            def active_silence() -> list[dict[str, Any]]:
                return [s for s in manager.silences() if s["status"]["state"] == "active"]

            (silence,) = eventually(active_silence)
            assert {(m["name"], m["value"], m["isEqual"], m["isRegex"]) for m in silence["matchers"]} == {
                ("alertname", "HostDown", True, False),
                ("instance", "db-01:9100", True, False),
                ("job", "node", True, False),
                ("severity", "critical", True, False),
            }
            assert silence["createdBy"] == "bridge (admin)"
            assert eventually(lambda: manager.alerts()[0]["status"]["state"] == "suppressed")

            def timeline() -> list[str]:
                # the outbox job records what it did after Alertmanager answered: poll, do not race it
                return [e["text"] for e in bridge.get(f"/api/incidents/{incident['number']}")["timeline"]]

            assert eventually(lambda: any(t.startswith("silenced in Alertmanager until") for t in timeline()))
            bridge.act(incident["number"], "resolve")
            eventually(lambda: [s["status"]["state"] for s in manager.silences()] == ["expired"])
            assert eventually(lambda: f"Alertmanager silence {silence['id']} expired" in timeline())
            detail = bridge.get(f"/api/incidents/{incident['number']}")
            (recorded,) = detail["silences"]
            assert (recorded["silence_id"], recorded["fingerprint"]) == (
                silence["id"],
                incident_fingerprint(detail),
            )
            assert recorded["expired_at"] is not None


def test_reconciliation_brings_in_what_bridge_never_received_and_resolves_what_is_gone(
    am_settings: Settings,
) -> None:
    dead_end = (
        f"http://127.0.0.1:{free_port()}/webhooks/alertmanager"  # bridge is not there: every send fails
    )
    with running_alertmanager(dead_end) as manager:
        manager.post_alerts(alert("HostDown", "db-01:9100"), alert("HostDown", "db-02:9100"))
        settings = am_settings.with_overrides(
            alertmanager_url=manager.url,
            alertmanager_reconcile=timedelta(seconds=1),
            alertmanager_resolve_grace=timedelta(seconds=2),
        )
        with bridge_server(settings, free_port()) as bridge:

            def both() -> list[dict[str, Any]]:
                items = bridge.get("/api/incidents")["items"]
                return items if len(items) == 2 else []

            incidents = eventually(both)
            assert all(i["status"] == "open" for i in incidents)
            detail = bridge.get(f"/api/incidents/{incidents[0]['number']}")
            attached = next(e for e in detail["timeline"] if e["kind"] == "alert_attached")
            assert "found by reconciliation with Alertmanager" in attached["text"]
            manager.post_alerts(alert("HostDown", "db-02:9100", resolved=True))
            gone = next(i for i in incidents if i["title"] == "HostDown on db-02")
            eventually(lambda: bridge.get(f"/api/incidents/{gone['number']}")["status"] == "resolved")
            kept = next(i for i in incidents if i["title"] == "HostDown on db-01")
            assert bridge.get(f"/api/incidents/{kept['number']}")["status"] == "open"


def test_a_silenced_alert_that_resolves_still_resolves_in_bridge(am_settings: Settings) -> None:
    """Alertmanager sends nothing for a silenced alert, its resolution included: reconciliation
    notices the alert is gone and resolves it, and resolving expires the silence."""
    port = free_port()
    with running_alertmanager(f"http://127.0.0.1:{port}/webhooks/alertmanager") as manager:
        settings = am_settings.with_overrides(
            alertmanager_url=manager.url,
            alertmanager_reconcile=timedelta(seconds=1),
            alertmanager_resolve_grace=timedelta(seconds=2),
        )
        with bridge_server(settings, port) as bridge:
            manager.post_alerts(alert("HostDown", "db-01:9100"))
            (incident,) = eventually(lambda: bridge.get("/api/incidents")["items"])
            bridge.act(incident["number"], "ack")
            eventually(lambda: [s for s in manager.silences() if s["status"]["state"] == "active"])
            manager.post_alerts(alert("HostDown", "db-01:9100", resolved=True))
            number = incident["number"]
            eventually(lambda: bridge.get(f"/api/incidents/{number}")["status"] == "resolved", timeout=30)
            eventually(lambda: [s["status"]["state"] for s in manager.silences()] == ["expired"])
            timeline = [e["text"] for e in bridge.get(f"/api/incidents/{number}")["timeline"]]
            assert any("found by reconciliation with Alertmanager" in t for t in timeline), timeline


def test_the_shipped_alertmanager_configuration_is_valid() -> None:

    amtool = shutil.which("amtool")
    if amtool is None:
        unavailable("amtool is not installed (scripts/install-test-peers installs prometheus-alertmanager)")
        return
    config = Path(__file__).resolve().parents[2] / "contrib" / "alertmanager" / "alertmanager.yml"
    checked = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout

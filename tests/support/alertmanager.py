"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) for the tests, on free
ports, with a generated configuration whose one receiver is a bridge webhook."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.support.postgres import free_port


class Unavailable(Exception):
    pass


def binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


@dataclass
class Alertmanager:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def post_alerts(self, *alerts: dict[str, Any]) -> None:
        """What Prometheus does: POST /api/v2/alerts."""
        response = requests.post(f"{self.url}/api/v2/alerts", json=list(alerts), timeout=5)
        response.raise_for_status()

    def alerts(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=5)
        response.raise_for_status()
        return list(response.json())

    def silences(self) -> list[dict[str, Any]]:
        response = requests.get(f"{self.url}/api/v2/silences", timeout=5)
        response.raise_for_status()
        return list(response.json())


def alert(
    name: str,
    instance: str,
    *,
    severity: str = "critical",
    resolved: bool = False,
    starts_at: datetime | None = None,
) -> dict[str, Any]:
    """An alert as Prometheus posts it; a resolved one has endsAt in the past."""
    now = datetime.now(UTC)
    body: dict[str, Any] = {
        "labels": {"alertname": name, "instance": instance, "job": "node", "severity": severity},
        "annotations": {"summary": f"{name} on {instance}"},
        "generatorURL": "http://prometheus.test/graph",
        "startsAt": (starts_at or now - timedelta(seconds=30)).isoformat(),
    }
    body["endsAt"] = (now - timedelta(seconds=1) if resolved else now + timedelta(minutes=5)).isoformat()
    return body


@contextmanager
def alertmanager(webhook_url: str, token: str) -> Iterator[Alertmanager]:
    """Start Alertmanager with a receiver that posts to `webhook_url` with a bearer token; short
    group timings so that tests see notifications within a second or two."""
    path = binary()
    if path is None:
        raise Unavailable("prometheus-alertmanager is not installed (scripts/install-test-peers installs it)")
    base = Path(tempfile.mkdtemp(prefix="bridge-am-"))
    config = {
        "route": {
            "receiver": "bridge",
            "group_by": ["alertname", "instance"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "bridge",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "max_alerts": 0,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
                    }
                ],
            }
        ],
    }
    (base / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = base / "alertmanager.log"
    with log.open("wb") as output:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [
                path,
                f"--config.file={base / 'alertmanager.yml'}",
                f"--storage.path={base / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=info",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    manager = Alertmanager(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if requests.get(f"{manager.url}/-/ready", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise Unavailable(f"Alertmanager did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield manager
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(base, ignore_errors=True)

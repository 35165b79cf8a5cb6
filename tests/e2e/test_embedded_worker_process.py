"""`bridge serve` on SQLite runs its worker in a process of its own (bridge.worker.child): one
command all the same, deliveries processed, counted on /metrics, stopped with the server; and
should that process die, the server processes deliveries itself."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import requests

from tests.support.app import ADMIN_TOKEN, AM_TOKEN
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import free_port
from tests.support.serve import clean_environment, serving

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    return clean_environment(
        BRIDGE_RULES_DIR=str(REPO / "rules"),
        BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.db'}",
        BRIDGE_ALERTMANAGER_TOKEN=AM_TOKEN,
        BRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
    )


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def _eventually(check: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.1)


def _send(url: str, host: str) -> None:
    alert = am_alert("InstanceDown", starts_at="2026-12-05T06:00:00Z", instance=host, severity="critical")
    answer = requests.post(
        f"{url}/webhooks/alertmanager",
        json=am_notification(alert),
        headers={"Authorization": f"Bearer {AM_TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text


def _incidents(url: str) -> int:
    answer = requests.get(
        f"{url}/api/incidents", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    )
    answer.raise_for_status()
    return len(answer.json()["items"])


def test_the_worker_process_decides_is_counted_and_stops_with_the_server(tmp_path: Path) -> None:
    with serving(tmp_path, _env(tmp_path), free_port()) as served:
        workers = _children(served.process.pid)
        assert len(workers) == 1, workers  # one command, one worker process
        _send(served.url, "web-1")
        _eventually(lambda: _incidents(served.url) == 1)
        # It runs at BRIDGE_WORKER_NICE's default below the server, as `bridge worker` does.
        server_nice = os.getpriority(os.PRIO_PROCESS, served.process.pid)
        assert os.getpriority(os.PRIO_PROCESS, workers[0]) == min(server_nice + 10, 19)
        metrics = requests.get(f"{served.url}/metrics", timeout=10).text
        # Counted in the worker process, shown by the server's /metrics.
        assert 'bridge_decisions_total{outcome="opened"} 1.0' in metrics
        assert 'bridge_alerts_received_total{source="alertmanager"} 1.0' in metrics
    assert served.returncode == 0, served.stderr
    assert not Path(f"/proc/{workers[0]}").exists() or _zombie_or_gone(workers[0])
    assert "Traceback" not in served.stderr


def _zombie_or_gone(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}") / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_should_the_worker_process_die_the_server_processes_deliveries_itself(tmp_path: Path) -> None:
    with serving(tmp_path, _env(tmp_path), free_port()) as served:
        (worker,) = _children(served.process.pid)
        os.kill(worker, signal.SIGKILL)
        _eventually(lambda: not _children(served.process.pid))
        _send(served.url, "web-2")
        _eventually(lambda: _incidents(served.url) == 1)
    assert served.returncode == 0, served.stderr
    assert "the worker process ended (killed by signal 9)" in served.stderr

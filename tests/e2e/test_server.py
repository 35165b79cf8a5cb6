"""The real thing over sockets: waitress serving the app, the worker thread processing."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.clock import SystemClock
from bridge.services.live import LiveRules
from bridge.settings import Settings
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, ZBX_TOKEN, serving
from tests.support.payloads import captured
from tests.support.postgres import free_port


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    runtime = Runtime.build(
        settings.with_overrides(tick_seconds=0.2, max_body_bytes=4096),
        SystemClock(),
        LiveRules(settings.rules_dir),
    )
    with serving(create_app(runtime=runtime), free_port()) as url:
        runtime.runner.start()
        yield url
        runtime.runner.stop()
    runtime.close()


def wait_for(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_deliveries_over_http_become_incidents_without_being_asked(server: str) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for path, token, endpoint in (
        ("alertmanager/01-firing-single.json", AM_TOKEN, "alertmanager"),
        ("zabbix/01-problem.json", ZBX_TOKEN, "zabbix"),
    ):
        response = requests.post(
            f"{server}/webhooks/{endpoint}",
            data=captured(path).body_raw,
            timeout=5,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert response.status_code == 202
        if endpoint == "alertmanager":
            assert response.json() == {"accepted": 1}
            # Decided by the worker thread, unasked. Only then the Zabbix delivery: while an older
            # delivery is pending, a Zabbix one is not decided before it (arrival order), and
            # its answer carries only the event's page, not yet the incident.
            wait_for(
                lambda: requests.get(f"{server}/api/incidents", headers=admin, timeout=5).json()["total"]
            )
        else:  # Zabbix's media type stores the incident it gets back as event tags
            tags = response.json()["tags"]
            number = int(tags["__zbx_bridge_incident"].removeprefix("INC-"))
            assert tags["__zbx_bridge_url"] == f"{server}/zabbix/events/zbx-acceptance/24"
            followed = requests.get(tags["__zbx_bridge_url"], auth=("any", ADMIN_TOKEN), timeout=5)
            assert followed.url == f"{server}/incidents/{number}"  # the event's page leads to its incident
    items = wait_for(
        lambda: (
            len(found := requests.get(f"{server}/api/incidents", headers=admin, timeout=5).json()["items"])
            == 2
            and found
        )
    )
    assert {i["number"]: i["source"] for i in items}[number] == "zabbix"
    assert sorted(i["title"] for i in items) == [
        "AccHighCPU on web-01",
        "High CPU load on Acceptance bridge host",
    ]


def test_an_oversized_chunked_body_is_refused_with_413(server: str) -> None:
    """No Content-Length to check up front: the limit still holds while reading."""
    host, port = server.removeprefix("http://").split(":")
    chunk = b"x" * 3000
    request = (
        b"POST /webhooks/alertmanager HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {AM_TOKEN}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        + b"".join(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(3))
        + b"0\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        while chunk_in := sock.recv(65536):
            answer += chunk_in
    assert answer.startswith(b"HTTP/1.1 413")


def test_readiness_over_http(server: str, tmp_path: Path) -> None:
    assert requests.get(f"{server}/readyz", timeout=5).json()["status"] == "ready"

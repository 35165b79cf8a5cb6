"""Rules reload: through the API, on file change, on SIGHUP; a bad reload keeps the last good rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from bridge.services.live import FileWatcher, LiveRules
from bridge.worker.runtime import Runtime
from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN, RULES
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import free_port

BROKEN = RULES + "  - name: broken\n    for: soon\n"
EXTRA = RULES + "  - name: extra\n    match: {name: Extra}\n    priority: P1\n"


def eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s")
        time.sleep(0.05)


def edit(path: Path, text: str) -> None:
    """Write a new version whose modification time surely differs from the last one's."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_a_bad_reload_keeps_the_last_good_rules_and_says_why(api: Api, rules_dir: Path) -> None:
    first = api.get("/api/rules")
    assert [r["name"] for r in first["rules"]] == ["drop-info", "disk"]
    assert first["last_error"] is None
    edit(rules_dir / "rules.yaml", BROKEN)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    refused = api.client.post("/api/rules/reload", headers=headers)
    assert refused.status_code == 422
    body = refused.get_json()
    assert body["version"] == first["version"]
    assert [r["name"] for r in body["rules"]] == ["drop-info", "disk"]
    line = BROKEN.splitlines().index("    for: soon") + 1
    assert body["last_error"] == [
        f"{rules_dir / 'rules.yaml'}:{line}: 'soon' is not a duration (examples: 30s, 10m, 1h30m, 2d)"
    ]
    assert body["last_error_at"] is not None
    edit(rules_dir / "rules.yaml", EXTRA)
    accepted = api.client.post("/api/rules/reload", headers=headers)
    assert accepted.status_code == 200
    body = accepted.get_json()
    assert body["version"] != first["version"]
    assert [r["name"] for r in body["rules"]] == ["drop-info", "disk", "extra"]
    assert body["last_error"] is None


def test_reloaded_rules_decide_the_next_delivery(api: Api, runtime: Runtime, rules_dir: Path) -> None:
    edit(rules_dir / "rules.yaml", EXTRA)
    assert runtime.services.rules.reload_if_changed() is True
    assert (
        api.alertmanager(
            am_notification(
                am_alert(
                    "Extra", starts_at=api.runtime.services.clock.now().isoformat(), instance="web-01:9100"
                )
            )
        ).status_code
        == 202
    )
    api.drain()
    (incident,) = api.incidents()
    assert (incident["rule"], incident["priority"]) == ("extra", "P1")


def test_file_changes_are_picked_up_by_the_watcher(rules_dir: Path) -> None:
    live = LiveRules(rules_dir)
    version = live.engine.rules.version
    watcher = FileWatcher([live], timedelta(milliseconds=50))
    watcher.start()
    try:
        edit(rules_dir / "rules.yaml", BROKEN)
        eventually(lambda: live.last_error is not None)
        assert live.engine.rules.version == version  # refused: the last good rules stay
        edit(rules_dir / "rules.yaml", EXTRA)
        eventually(lambda: live.engine.rules.version != version)
        assert live.last_error is None
        assert "extra" in live.engine.rules.by_name
        (rules_dir / "more.yaml").write_text("rules:\n  - name: more\n    match: {name: More}\n")
        eventually(lambda: "more" in live.engine.rules.by_name)
    finally:
        watcher.stop()


def test_an_unchanged_directory_is_not_reloaded(rules_dir: Path) -> None:
    live = LiveRules(rules_dir)
    assert live.reload_if_changed() is None
    edit(rules_dir / "rules.yaml", BROKEN)
    assert live.reload_if_changed() is False
    assert live.reload_if_changed() is None  # the refused version is not tried again and again
    edit(rules_dir / "rules.yaml", EXTRA)
    assert live.reload_if_changed() is True


def test_sighup_reloads_a_running_bridge_serve(tmp_path: Path, rules_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        BRIDGE_RULES_DIR=str(rules_dir),
        BRIDGE_RULES_WATCH="0",  # only the signal may reload here
        BRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
        BRIDGE_DATABASE_URL=f"sqlite:///{tmp_path / 'bridge.db'}",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api/rules"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def names() -> list[str] | None:
        try:
            return [r["name"] for r in requests.get(url, headers=headers, timeout=2).json()["rules"]]
        except requests.ConnectionError:
            assert server.poll() is None, "bridge serve exited"
            return None

    try:
        assert eventually(names, 30) == ["drop-info", "disk"]
        edit(rules_dir / "rules.yaml", EXTRA)
        time.sleep(0.3)
        assert names() == ["drop-info", "disk"]  # no watcher: nothing changes until the signal
        server.send_signal(signal.SIGHUP)
        assert eventually(lambda: names() == ["drop-info", "disk", "extra"])
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=15)
    assert server.returncode == 0, stderr
    assert "rules reloaded" in stderr

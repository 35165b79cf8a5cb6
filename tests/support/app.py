"""Build a runtime (and app) on a test database with test tokens and rules."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
from flask import Flask

from bridge.clock import FakeClock
from bridge.services.live import LiveRules
from bridge.settings import Settings
from bridge.web.waitress_server import create_server
from bridge.worker.runtime import Runtime

AM_TOKEN = "am-test-token"
ZBX_TOKEN = "zbx-test-token"
ADMIN_TOKEN = "admin-test-token"

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
  - name: disk
    match: {name: "=~.*Disk.*"}
    group_by: [name]
    for: 10m
"""


def write_rules(directory: Path, text: str = RULES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "rules.yaml").write_text(text)
    return directory


def make_settings(database_url: str, rules_dir: Path, **overrides: object) -> Settings:
    base = Settings(
        database_url=database_url,
        rules_dir=rules_dir,
        alertmanager_token=AM_TOKEN,
        zabbix_token=ZBX_TOKEN,
        admin_token=ADMIN_TOKEN,
        db_timeout=2.0,
    )
    return base.with_overrides(**overrides) if overrides else base


def build_runtime(settings: Settings, clock: FakeClock) -> Runtime:
    return Runtime.build(settings, clock, LiveRules(settings.rules_dir, settings.zone))


@contextmanager
def serving(app: Flask, port: int, threads: int = 4, **adjustments: Any) -> Iterator[str]:
    """Serve `app` with waitress on 127.0.0.1:`port` in a thread, as `bridge serve` does (its own
    errors in JSON); yields the base URL. `adjustments` are waitress's settings.

    The loop runs in short rounds until told to stop and the server is closed only after its
    thread has left the loop: closing sockets under a running select() raised EBADF in the
    thread now and then (`httpd.run` plus `httpd.close()` from the test)."""
    httpd = create_server(app, host="127.0.0.1", port=port, threads=threads, **adjustments)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            httpd.asyncore.loop(timeout=0.05, map=httpd._map, count=1)  # type: ignore[attr-defined]

    thread = threading.Thread(target=loop, name=f"waitress-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(5)
        httpd.task_dispatcher.shutdown()  # type: ignore[attr-defined]
        for channel in list(httpd._map.values()):  # type: ignore[attr-defined]  # the server and its connections
            channel.close()


@contextmanager
def gunicorn_serving(database_url: str, rules_dir: Path, port: int, log: Path) -> Iterator[str]:
    """bridge's web tier as production runs it (gunicorn, `bridge.web.gunicorn_config`, one worker)
    on an already migrated database, on 127.0.0.1:`port`; yields the base URL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        BRIDGE_DATABASE_URL=database_url,
        BRIDGE_RULES_DIR=str(rules_dir),
        BRIDGE_ALERTMANAGER_TOKEN=AM_TOKEN,
        BRIDGE_ZABBIX_TOKEN=ZBX_TOKEN,
        BRIDGE_ADMIN_TOKEN=ADMIN_TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(log.parent / "gunicorn-metrics"),
    )
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:bridge.web.gunicorn_config"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1", "bridge.web.wsgi:create()"]
    with log.open("ab") as output:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if requests.get(f"{url}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn did not answer in 30s (log: {log})")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

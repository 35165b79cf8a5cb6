"""The production stack as real local processes: gunicorn running bridge's WSGI app and `bridge
worker` processes, against a PostgreSQL and a Redis the tests started. What docker-compose.yml
runs, without Docker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import func, select

from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import Intake
from bridge.settings import normalize_database_url
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, ZBX_TOKEN
from tests.support.postgres import free_port

REPO = Path(__file__).resolve().parents[2]


def wait_for(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Stack:
    database_url: str
    redis_url: str
    rules_dir: Path
    logs: Path
    web_workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    web: subprocess.Popen[bytes] | None = None
    port: int = 0
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _started: int = 0

    def __post_init__(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.database_url = normalize_database_url(self.database_url)
        self.engine = create_db_engine(self.database_url, timeout=2)
        self.sessions = make_session_factory(self.engine)
        self.http = requests.Session()

    @property
    def env(self) -> dict[str, str]:
        base = {
            k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_") or k.startswith("BRIDGE_TEST_")
        }
        return {
            **base,
            "BRIDGE_DATABASE_URL": self.database_url,
            "BRIDGE_REDIS_URL": self.redis_url,
            "BRIDGE_RULES_DIR": str(self.rules_dir),
            "BRIDGE_ALERTMANAGER_TOKEN": AM_TOKEN,
            "BRIDGE_ZABBIX_TOKEN": ZBX_TOKEN,
            "BRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            "BRIDGE_TICK_SECONDS": "0.2",
            "BRIDGE_SWEEP_GRACE": "2s",
            "BRIDGE_REDIS_TIMEOUT": "0.5",
            "BRIDGE_DB_TIMEOUT": "2",
            "BRIDGE_LOG_LEVEL": "INFO",
            **self.extra_env,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def migrate(self) -> None:
        """What the compose file's one-shot `migrate` service runs."""
        subprocess.run(
            [sys.executable, "-m", "bridge", "db", "upgrade"], env=self.env, check=True, capture_output=True
        )

    def start_web(self) -> None:
        self.port = free_port()
        self.web = self._spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:bridge.web.gunicorn_config",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.web_workers),
                "bridge.web.wsgi:create()",
            ],
        )
        wait_for(self._healthy, 30, f"gunicorn to answer (log: {self.logs / 'web.log'})", interval=0.1)

    def start_worker(self) -> subprocess.Popen[bytes]:
        self._started += 1
        worker = self._spawn(f"worker-{self._started}", [sys.executable, "-m", "bridge", "worker"])
        self.workers.append(worker)
        return worker

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def post(self, body: dict[str, Any] | bytes, timeout: float = 10) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.http.post(
            f"{self.url}/webhooks/alertmanager",
            data=data,
            headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
            timeout=timeout,
        )

    def api(self, path: str) -> Any:
        response = self.http.get(
            f"{self.url}{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
        )
        response.raise_for_status()
        return response.json()

    def intake_counts(self) -> dict[str, int]:
        with self.sessions() as session:
            return dict(session.execute(select(Intake.status, func.count()).group_by(Intake.status)).all())  # type: ignore[arg-type]

    def wait_processed(self, expected: int, timeout: float = 60) -> None:
        wait_for(
            lambda: self.intake_counts() == {"done": expected},
            timeout,
            f"{expected} deliveries done (now {self.intake_counts()}; logs in {self.logs})",
            interval=0.2,
        )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in [*self.workers, *([self.web] if self.web else [])]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, *([self.web] if self.web else [])]:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        self.http.close()
        self.engine.dispose()

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            return subprocess.Popen(argv, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)

    def _healthy(self) -> bool:
        assert self.web is not None
        if self.web.poll() is not None:
            raise AssertionError(f"gunicorn exited:\n{self.log('web')[-3000:]}")
        try:
            return self.http.get(f"{self.url}/healthz", timeout=1).ok
        except (requests.ConnectionError, requests.Timeout):  # bound, but still loading the app
            return False

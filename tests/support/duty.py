"""A bridge with the example rota (rules/rota.yaml), real SMTP and HTTP receivers for its
notifications, and a fake clock: what the duty tests share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from bridge.clock import FakeClock
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.app import ADMIN_TOKEN, build_runtime, make_settings, write_rules
from tests.support.receivers import HttpSink, _Inbox, http_server, smtp_server

EXAMPLE_ROTA = Path(__file__).parents[2] / "rules" / "rota.yaml"
MSK = ZoneInfo("Europe/Moscow")
TELEGRAM_TOKEN = "123456:test-bot-token"
BASE_URL = "https://bridge.desk.example"
RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: outage
    match: {name: HostDown}
    priority: P1
    route: critical
    line: L2
    client: {label: customer}
  - name: everything-else
    client: {label: customer}
"""


def msk(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


@dataclass
class Desk:
    """The API of a bridge with the example rota, and what its notifications reached."""

    client: FlaskClient
    runtime: Runtime
    clock: FakeClock
    inbox: _Inbox
    http: HttpSink
    rules_dir: Path

    def post(self, path: str, body: dict[str, Any] | None = None) -> TestResponse:
        return self.client.post(path, json=body or {}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(
            path, query_string=params, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def open(self, **body: Any) -> dict[str, Any]:
        response = self.post("/api/incidents", body)
        assert response.status_code == 201, response.get_json()
        self.drain()
        return dict(response.get_json())

    def act(self, number: int, action: str, **body: Any) -> dict[str, Any]:
        response = self.post(f"/api/incidents/{number}/{action}", body)
        assert response.status_code == 200, response.get_json()
        self.drain()
        return dict(response.get_json())

    def at(self, text: str) -> None:
        """Move the clock to a Moscow wall-clock time and let the worker catch up."""
        self.clock.set(msk(text))
        self.drain()

    def drain(self) -> None:
        self.runtime.runner.drain()

    def incident(self, number: int) -> dict[str, Any]:
        return dict(self.get(f"/api/incidents/{number}"))

    def timeline(self, number: int, *kinds: str) -> list[str]:
        return [e["text"] for e in self.incident(number)["timeline"] if not kinds or e["kind"] in kinds]

    def pages(self, number: int) -> list[str]:
        """Who each page went to, in order: the `paged` timeline entries."""
        return self.timeline(number, "paged")

    def mails_to(self, handle: str) -> list[str]:
        return [m.subject for m in self.inbox.mails if m.recipients == [f"{handle}@desk.example"]]


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    with running_desk(database_url, tmp_path, clock, RULES) as running:
        yield running


@contextmanager
def running_desk(
    database_url: str, tmp_path: Path, clock: FakeClock, rules: str, **overrides: Any
) -> Iterator[Desk]:
    """A desk with these rules (and the example rota), and settings changed by `overrides`."""
    with smtp_server() as (smtp_url, inbox), http_server() as (http_url, sink):
        rules_dir = write_rules(tmp_path / "rules", rules)
        rota = EXAMPLE_ROTA.read_text().replace("https://chat.desk.example", http_url)
        (rules_dir / "rota.yaml").write_text(rota)
        settings = make_settings(
            database_url,
            rules_dir,
            smtp_url=smtp_url,
            smtp_from="bridge@desk.example",
            telegram_token=TELEGRAM_TOKEN,
            telegram_api_url=http_url,
            base_url=BASE_URL,
            **overrides,
        )
        runtime = build_runtime(settings, clock)
        try:
            yield Desk(create_app(runtime=runtime).test_client(), runtime, clock, inbox, sink, rules_dir)
        finally:
            runtime.close()

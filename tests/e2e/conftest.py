"""The HTTP app on a real database (SQLite and PostgreSQL), with a fake clock and test tokens.

The worker is not a thread here: tests call `drain()` to process what the webhooks stored, so
every step is deterministic. `test_server.py` runs the real server and worker thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from bridge.clock import FakeClock
from bridge.settings import Settings
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.api import Api
from tests.support.app import build_runtime, make_settings, write_rules


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    return write_rules(tmp_path / "rules")


@pytest.fixture
def settings(database_url: str, rules_dir: Path) -> Settings:
    return make_settings(database_url, rules_dir)


@pytest.fixture
def runtime(settings: Settings, clock: FakeClock) -> Iterator[Runtime]:
    built = build_runtime(settings, clock)
    yield built
    built.close()


@pytest.fixture
def app(runtime: Runtime) -> Flask:
    return create_app(runtime=runtime)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api(client: FlaskClient, runtime: Runtime) -> Api:
    return Api(client, runtime)

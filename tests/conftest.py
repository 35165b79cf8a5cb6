"""Shared fixtures: clean environment, a fake clock, and databases (SQLite and a real PostgreSQL).

Tests that take `database_url` run twice, on SQLite and on PostgreSQL. Without PostgreSQL they
skip locally, but with CI=true they fail: CI must prove the production database. The same goes
for Redis (`redis_server`, `redis_url`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.clock import FakeClock
from bridge.db import retention
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.migrate import upgrade
from bridge.db.models import Base
from tests.support.postgres import Unavailable, fresh_database, throwaway_cluster
from tests.support.redis import RedisServer, throwaway_redis
from tests.support.redis import Unavailable as RedisUnavailable

START = datetime(2026, 11, 22, 6, 51, 10, tzinfo=UTC)
"""A moment just after the Alertmanager fixtures' first alert started."""


def unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI needs this real service: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BRIDGE_* setting of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("BRIDGE_") and not name.startswith("BRIDGE_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    configured = os.environ.get("BRIDGE_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    try:
        with throwaway_cluster() as url:
            yield url
    except Unavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Iterator[str]:
    """A database for this test run, migrated once; tests empty it before use."""
    with fresh_database(postgres_server) as url:
        engine = create_db_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "bridge.db"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "bridge.db"
        shutil.copy(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    _truncate(url)
    return url


def _truncate(url: str) -> None:
    """Empty every table of a PostgreSQL test database and restart its sequences."""
    engine = create_db_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with make_session_factory(engine)() as session, session.begin():
        # The intake log has no default partition: the weeks the tests write rows in directly
        # (stored deliveries create theirs on demand), again each time since prunes drop some.
        retention.ensure_partitions(session, TEST_WEEKS_FROM, datetime.now(UTC) + timedelta(weeks=5))
    engine.dispose()


TEST_WEEKS_FROM = datetime(2026, 1, 5, tzinfo=UTC)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real Redis for the run: BRIDGE_TEST_REDIS_URL, else a throwaway redis-server."""
    try:
        with throwaway_redis() as server:
            yield server
    except RedisUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The run's Redis, empty before and after the test."""
    redis_server.flush()
    yield redis_server.url
    redis_server.flush()

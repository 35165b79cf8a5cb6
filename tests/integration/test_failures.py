"""What a database error means, on errors real PostgreSQL and SQLite raise (the same calls bridge
makes, through SQLAlchemy): data refused, a collision, a lock not granted, a database gone."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from bridge.db.engine import create_db_engine
from bridge.db.failures import Failure, classify
from tests.support.production import closed_port_url


def failure_of(connection: Connection, sql: str, **params: object) -> Failure:
    with pytest.raises(SQLAlchemyError) as raised:
        connection.execute(text(sql), params)
    return classify(raised.value)


@pytest.fixture
def postgres(postgres_database: str) -> Iterator[Engine]:
    engine = create_db_engine(postgres_database)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}", timeout=0.2)
    yield engine
    engine.dispose()


TABLE = "CREATE TEMP TABLE t (k varchar(5) UNIQUE, n integer NOT NULL)"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        ("INSERT INTO t VALUES (:k, 1)", {"k": "a\x00b"}, Failure.REFUSED),  # NUL in text
        ("SELECT CAST(:j AS jsonb)", {"j": '{"a": "\\u0000"}'}, Failure.REFUSED),  # NUL in JSON
        ("INSERT INTO t VALUES (:k, 1)", {"k": "too long"}, Failure.REFUSED),  # 22001
        ("INSERT INTO t VALUES ('a', :n)", {"n": 2**40}, Failure.REFUSED),  # integer out of range
        ("INSERT INTO t VALUES ('a', NULL)", {}, Failure.REFUSED),  # not null
        ("INSERT INTO t VALUES ('x', 1)", {}, Failure.CONFLICT),  # unique: another worker's key
        ("SELECT * FROM no_such_table", {}, Failure.UNAVAILABLE),  # not bridge's schema
    ],
)
def test_postgresql_refuses_data(
    postgres: Engine, sql: str, params: dict[str, object], expected: Failure
) -> None:
    with postgres.connect() as connection:
        connection.execute(text(TABLE))
        connection.execute(text("INSERT INTO t VALUES ('x', 1)"))
        assert failure_of(connection, sql, **params) is expected


@pytest.mark.postgres
def test_postgresql_lock_and_statement_timeouts_are_busy(postgres: Engine) -> None:
    with postgres.connect() as holder, postgres.connect() as waiter:
        holder.execute(text("SELECT pg_advisory_lock(4242)"))
        waiter.execute(text("SET lock_timeout = '50ms'"))
        assert failure_of(waiter, "SELECT pg_advisory_lock(4242)") is Failure.BUSY  # 55P03
        waiter.rollback()
        waiter.execute(text("SET statement_timeout = '50ms'"))
        assert failure_of(waiter, "SELECT pg_sleep(2)") is Failure.BUSY  # 57014
        holder.execute(text("SELECT pg_advisory_unlock(4242)"))


@pytest.mark.postgres
def test_postgresql_deadlock_is_a_conflict(postgres: Engine) -> None:
    with postgres.connect() as first, postgres.connect() as second:
        first.execute(text("SELECT pg_advisory_xact_lock(1)"))
        second.execute(text("SELECT pg_advisory_xact_lock(2)"))
        outcome: list[Failure | None] = []

        def first_takes_two() -> None:
            try:
                first.execute(text("SELECT pg_advisory_xact_lock(2)"))
                outcome.append(None)
            except SQLAlchemyError as exc:
                outcome.append(classify(exc))

        thread = threading.Thread(target=first_takes_two)
        thread.start()
        try:
            second.execute(text("SELECT pg_advisory_xact_lock(1)"))  # one of the two is chosen as victim
            outcome.append(None)
        except SQLAlchemyError as exc:
            outcome.append(classify(exc))
            second.rollback()
        thread.join(30)
        first.rollback()
        second.rollback()
    assert sorted(outcome, key=str) == sorted([Failure.CONFLICT, None], key=str)


@pytest.mark.postgres
def test_postgresql_gone_is_unavailable(postgres: Engine) -> None:
    with postgres.connect() as victim, postgres.connect() as admin:
        pid = victim.execute(text("SELECT pg_backend_pid()")).scalar_one()
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert failure_of(victim, "SELECT 1") is Failure.UNAVAILABLE  # the server cut it (57P01)
    refused = create_db_engine(closed_port_url("postgresql"), timeout=1)
    try:
        with pytest.raises(SQLAlchemyError) as raised:
            refused.connect()
        assert classify(raised.value) is Failure.UNAVAILABLE  # nothing listens
    finally:
        refused.dispose()


@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        ("INSERT INTO t VALUES ('x', 1)", {}, Failure.CONFLICT),  # unique
        ("INSERT INTO t VALUES ('a', NULL)", {}, Failure.REFUSED),  # not null
        ("INSERT INTO t VALUES (:k, 1)", {"k": {"not": "bindable"}}, Failure.REFUSED),
        (
            "INSERT INTO t VALUES (:k, 1)",
            {"k": "x" * 200},
            Failure.REFUSED,
        ),  # over the length limit set below
        ("SELECT * FROM no_such_table", {}, Failure.UNAVAILABLE),
    ],
)
def test_sqlite_refuses_data(sqlite: Engine, sql: str, params: dict[str, object], expected: Failure) -> None:
    with sqlite.begin() as connection:
        connection.execute(text("CREATE TABLE t (k text UNIQUE, n integer NOT NULL)"))
        connection.execute(text("INSERT INTO t VALUES ('x', 1)"))
    with sqlite.begin() as connection:
        raw = connection.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        raw.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 100)  # a value too long, as SQLite sees it
        assert failure_of(connection, sql, **params) is expected


def test_sqlite_locked_by_another_process_is_busy(sqlite: Engine, tmp_path: Path) -> None:
    with sqlite.begin() as connection:
        connection.execute(text("CREATE TABLE t (n integer)"))
    other = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(SQLAlchemyError) as raised, sqlite.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
        assert classify(raised.value) is Failure.BUSY
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_sqlite_that_cannot_be_opened_is_unavailable(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    try:
        with pytest.raises(SQLAlchemyError) as raised:
            engine.connect()
        assert classify(raised.value) is Failure.UNAVAILABLE
    finally:
        engine.dispose()

"""`bridge serve` and its worker process take turns at the SQLite write lock through a lock file
beside the database (`ProcessLock`), as the threads of one process do through `WriteTurn`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from bridge.db import engine as engines
from bridge.db.engine import ProcessLock, create_db_engine, make_session_factory


@pytest.fixture
def shared_turns() -> Iterator[None]:
    with engines.write_turn_between_processes():
        yield
    assert not engines._shared_turns  # only within the block


@pytest.fixture
def database(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "bridge.db"
    path.write_bytes(sqlite_template.read_bytes())
    return str(path)


@pytest.fixture
def two_engines(database: str, shared_turns: None) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one file, each with its own lock file handle: as two processes."""
    first = create_db_engine(f"sqlite:///{database}", timeout=0.5)
    second = create_db_engine(f"sqlite:///{database}", timeout=0.5)
    yield first, second
    first.dispose()
    second.dispose()


def test_the_lock_is_taken_by_one_holder_at_a_time(tmp_path: Path) -> None:
    path = str(tmp_path / "db-turn")
    mine, theirs = ProcessLock(path), ProcessLock(path)
    assert mine.acquire(time.monotonic() + 1)
    started = time.monotonic()
    assert not theirs.acquire(time.monotonic() + 0.2)  # waits its deadline out, then says no
    assert time.monotonic() - started >= 0.2
    threading.Timer(0.1, mine.release).start()
    started = time.monotonic()
    assert theirs.acquire(time.monotonic() + 5)  # seen within a poll of its release
    assert time.monotonic() - started < 1
    theirs.release()


def test_a_wait_given_up_lets_the_lock_go_when_it_comes_after_all(tmp_path: Path) -> None:
    path = str(tmp_path / "db-turn")
    holder, impatient, next_one = ProcessLock(path), ProcessLock(path), ProcessLock(path)
    assert holder.acquire(time.monotonic() + 1)
    assert not impatient.acquire(time.monotonic() + 0.1)  # its wait goes on in the kernel
    holder.release()  # the abandoned wait gets it, and lets it go at once
    assert next_one.acquire(time.monotonic() + 2)
    assert not impatient.acquire(time.monotonic() + 0.1)
    next_one.release()
    assert impatient.acquire(time.monotonic() + 2)
    impatient.release()


def test_a_writer_waits_for_the_other_process_and_gives_up_with_database_is_locked(
    two_engines: tuple[Engine, Engine], database: str
) -> None:
    first, second = two_engines
    assert Path(f"{database}-turn").exists() is False  # made on first use only
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with make_session_factory(first)() as session, session.begin():
            session.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    try:
        assert Path(f"{database}-turn").exists()
        sessions = make_session_factory(second)
        with (
            pytest.raises(OperationalError, match=r"database is locked \(waited 0.5s for another process\)"),
            sessions() as session,
            session.begin(),
        ):
            session.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))
        with make_session_factory(second)() as session:  # a reader never waits
            assert session.execute(text("SELECT count(*) FROM intake")).scalar_one() == 0
    finally:
        release.set()
        holder.join(10)
    with make_session_factory(second)() as session, session.begin():  # free again once committed
        session.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))


def test_a_connection_that_begins_again_gives_its_one_turn_back(two_engines: tuple[Engine, Engine]) -> None:
    """Alembic begins a transaction per migration on one connection: the turn it holds is given
    back once, when the connection returns to the pool, and then is free for everyone."""
    first, second = two_engines
    with first.connect() as connection:
        for _ in range(3):
            with connection.begin():
                connection.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))
    with make_session_factory(second)() as session, session.begin():  # the other "process"
        session.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))
    done = threading.Event()

    def write_from_another_thread() -> None:
        with make_session_factory(first)() as session, session.begin():
            session.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))
        done.set()

    thread = threading.Thread(target=write_from_another_thread)
    thread.start()
    thread.join(10)
    assert done.is_set()  # this process's turn was given back too


def test_without_the_worker_process_no_lock_file_is_made(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engines, "_shared_turns", False)
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        with make_session_factory(engine)() as session, session.begin():
            session.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))
    finally:
        engine.dispose()
    assert not Path(f"{database}-turn").exists()

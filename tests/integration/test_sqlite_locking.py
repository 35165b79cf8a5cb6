"""The embedded default under contention: readers never wait for the writer, writers take turns
in the order they asked, and a webhook that cannot get its turn answers 503 with Retry-After
(never 500) and stores nothing, so the sender retries it."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from bridge.clock import FakeClock
from bridge.db.engine import WriteTurn, create_db_engine, make_session_factory
from bridge.db.failures import Failure, classify
from bridge.db.models import Intake
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.conftest import START
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, build_runtime, make_settings, write_rules
from tests.support.payloads import am_alert, am_notification


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "bridge.db"
    path.write_bytes(sqlite_template.read_bytes())
    return f"sqlite:///{path}"


class HeldWrite:
    """A write transaction of another thread on `sessions`, held until released."""

    def __init__(self, runtime_sessions: object) -> None:
        self.sessions = runtime_sessions
        self.holding = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        with self.sessions() as session, session.begin():  # type: ignore[operator]
            session.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))  # takes the turn
            self.holding.set()
            self.release.wait(30)

    def __enter__(self) -> HeldWrite:
        self.thread.start()
        assert self.holding.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release.set()
        self.thread.join(10)


@pytest.fixture
def runtime(sqlite_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Runtime]:
    built = build_runtime(make_settings(sqlite_url, write_rules(tmp_path / "rules"), db_timeout=0.5), clock)
    yield built
    built.close()


def stored(runtime: Runtime) -> int:
    with runtime.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Intake)) or 0


def test_a_webhook_that_cannot_get_the_lock_answers_503_with_retry_after_and_stores_nothing(
    runtime: Runtime,
) -> None:
    client = create_app(runtime=runtime).test_client()
    body = json.dumps(am_notification(am_alert("Waiting", starts_at=START.isoformat(), instance="h:1")))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {AM_TOKEN}"}
    with HeldWrite(runtime.services.sessions):  # the worker deciding a long slice, say
        refused = client.post("/webhooks/alertmanager", data=body, headers=headers)
        assert refused.status_code == 503, refused.get_data(as_text=True)
        assert refused.headers["Retry-After"] == "5"
        assert refused.get_json()["error"].startswith("cannot store the delivery")
        # Meanwhile readers answer: they would have waited as long and failed as well, had they
        # asked for the write turn.
        listed = client.get("/api/incidents", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert listed.status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/metrics").status_code == 200
        assert stored(runtime) == 0
    accepted = client.post("/webhooks/alertmanager", data=body, headers=headers)  # the sender's retry
    assert accepted.status_code == 202
    assert stored(runtime) == 1


def test_readers_never_wait_for_a_writer_of_this_process_or_another(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url, timeout=5.0)
    sessions = make_session_factory(engine)

    def count() -> int:
        started = time.monotonic()
        with sessions() as session:
            found = session.scalar(select(func.count()).select_from(Intake)) or 0
        # It did not wait: the write turn and SQLite's busy wait are both 5 s long here.
        assert time.monotonic() - started < 2.5
        return found

    try:
        with HeldWrite(sessions):  # a thread of this process
            assert count() == 0
        other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
        try:  # another process, in the middle of writing a row
            other.execute("BEGIN IMMEDIATE")
            other.execute(
                "INSERT INTO intake (source, dedup_key, received_at, body, alert_count, status, attempts)"
                " VALUES ('alertmanager', 'k', '2026-11-22 06:51:10', x'7b7d', 0, 'pending', 0)"
            )
            assert count() == 0  # the last committed state
            other.execute("COMMIT")
            assert count() == 1
        finally:
            other.close()
    finally:
        engine.dispose()


def test_a_session_that_only_reads_cannot_write(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url)
    try:
        with make_session_factory(engine)() as session, pytest.raises(ProgrammingError, match="only reads"):
            session.execute(text("UPDATE intake SET attempts = 0"))
    finally:
        engine.dispose()


def test_a_writer_that_does_not_get_its_turn_is_busy(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url, timeout=0.3)
    sessions = make_session_factory(engine)
    try:
        with HeldWrite(sessions), sessions() as session, session.begin():
            with pytest.raises(OperationalError, match="database is locked") as waited:
                session.execute(text("UPDATE intake SET attempts = 0"))
            assert classify(waited.value) is Failure.BUSY
    finally:
        engine.dispose()


def test_writers_take_turns_in_the_order_they_asked() -> None:
    turn = WriteTurn(timeout=10)
    order: list[str] = []
    turn.take()  # the worker, deciding a slice

    def writer(name: str) -> None:
        turn.take()
        order.append(name)
        turn.give_back()

    threads = {}
    for name in ("webhook-1", "webhook-2"):
        threads[name] = threading.Thread(target=writer, args=(name,))
        threads[name].start()
        deadline = time.monotonic() + 10
        while turn.waiting < len(threads):  # each in the queue before the next asks
            assert time.monotonic() < deadline
            time.sleep(0.001)
    turn.give_back()
    turn.take()  # the worker's next slice asks last, so it comes last
    order.append("worker")
    turn.give_back()
    for thread in threads.values():
        thread.join(10)
    assert order == ["webhook-1", "webhook-2", "worker"]


def test_a_writer_whose_wait_runs_out_leaves_the_queue() -> None:
    turn = WriteTurn(timeout=0.05)
    turn.take()
    failed: list[Exception] = []

    def writer() -> None:
        try:
            turn.take()
        except sqlite3.OperationalError as exc:
            failed.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    thread.join(10)
    assert [str(e) for e in failed] == ["database is locked (waited 0.05s for this process's turn)"]
    assert turn.waiting == 0
    turn.give_back()
    turn.take()  # free again, at once
    turn.give_back()


def test_a_read_inside_a_write_transaction_does_not_give_the_turn_away(sqlite_url: str) -> None:
    engine = create_db_engine(sqlite_url, timeout=0.3)
    sessions = make_session_factory(engine)
    errors: list[str] = []

    def another_writer() -> None:
        try:
            with sessions() as session, session.begin():
                session.execute(text("UPDATE intake SET attempts = 0"))
        except OperationalError as exc:
            errors.append(str(exc.orig))

    try:
        with sessions() as writer, writer.begin():
            writer.execute(text("UPDATE intake SET attempts = attempts WHERE id < 0"))
            with sessions() as reader:  # a hook reading something, say; its connection goes back
                reader.scalar(select(func.count()).select_from(Intake))
            thread = threading.Thread(target=another_writer)
            thread.start()
            thread.join(10)
        # It waited for this process's turn, which the writer still had (not for SQLite's lock,
        # which it would have been left to fight for had the reader given the turn away).
        assert errors == ["database is locked (waited 0.3s for this process's turn)"]
        another_writer()  # and the turn is free once the writer is done
        assert errors == ["database is locked (waited 0.3s for this process's turn)"]
    finally:
        engine.dispose()

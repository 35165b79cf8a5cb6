"""Storing deliveries under concurrency: every accepted delivery committed exactly once whatever
the grouping (SQLite's group commit, PostgreSQL's one autocommit statement), and a pooled
connection that died since its last use costing no webhook a 503."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bridge.alert import Source
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import SQLiteGroupCommit, Stored, intake_connections, intake_row, store_delivery
from bridge.db.models import Intake, IntakeKey
from bridge.sources import parse_delivery
from tests.support.db import empty_database
from tests.support.payloads import am_alert, am_notification

WHEN = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def body(n: int) -> bytes:
    start = (WHEN + timedelta(seconds=n)).isoformat()
    return json.dumps(am_notification(am_alert(f"Alert{n}", starts_at=start, instance=f"h{n}:1"))).encode()


def store(sessions: object, raw: bytes) -> Stored:
    return store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, WHEN), raw, WHEN)  # type: ignore[arg-type]


def test_concurrent_webhooks_are_each_committed_once_and_redeliveries_are_told_apart(
    database_url: str,
) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    threads, per_thread = 12, 15
    # Every thread posts its own deliveries and, in between, the same 5 shared ones (an HA pair).
    results: list[tuple[int, Stored]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def post(thread: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                n = 1000 + thread * per_thread + i if i % 3 else i % 5
                stored = store(sessions, body(n))
                with lock:
                    results.append((n, stored))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    workers = [threading.Thread(target=post, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    stored_once = Counter(n for n, stored in results if not stored.duplicate)
    posted = Counter(n for n, _ in results)
    assert set(stored_once) == set(posted)  # every distinct delivery stored...
    assert set(stored_once.values()) == {1}  # ...exactly once; every other copy a duplicate
    ids = [stored.intake_id for _, stored in results if not stored.duplicate]
    assert len(set(ids)) == len(ids)
    assert all(stored.intake_id is None for _, stored in results if stored.duplicate)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Intake)) == len(posted)
        assert sorted(session.scalars(select(Intake.id))) == sorted(ids)
    engine.dispose()


def test_a_webhook_whose_connection_died_is_stored_on_a_new_one(postgres_database: str) -> None:
    """The database restarted (here: every connection of bridge's terminated) since the intake
    last used its connection: one retry on a new connection, and the webhook is stored, not
    answered 503."""
    # PostgreSQL only (a server's connections; SQLite has none to lose): no SQLite variant to skip.
    empty_database(postgres_database)
    engine = create_db_engine(postgres_database)
    sessions = make_session_factory(engine)
    try:
        assert not store(sessions, body(1)).duplicate
        name = engine.url.database
        admin = postgres_database.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(admin, autocommit=True) as connection:
            killed = connection.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        second = store(sessions, body(2))
        assert second.intake_id is not None and not second.duplicate
        assert store(sessions, body(2)).duplicate  # and stored once
        with sessions() as session:
            keys = set(session.scalars(select(IntakeKey.dedup_key)))
            assert len(keys) == session.scalar(select(func.count()).select_from(Intake))
    finally:
        engine.dispose()


def test_on_postgresql_webhooks_reuse_their_own_connections_which_close_with_the_engine(
    postgres_database: str,
) -> None:
    """One connection serves webhook after webhook (no checkout, no ping, no BEGIN/COMMIT), in
    autocommit; it is bridge's own (not the pool's), and the engine's dispose closes it."""
    empty_database(postgres_database)
    engine = create_db_engine(postgres_database)
    sessions = make_session_factory(engine)
    connections = intake_connections(engine)
    try:
        backends = set()
        for n in range(5):
            assert not store(sessions, body(n)).duplicate
            connection = connections._idle[-1][0]
            backends.add(connection.info.backend_pid)
        assert len(backends) == 1 and len(connections._idle) == 1
        assert connection.autocommit and engine.pool.checkedout() == 0
    finally:
        engine.dispose()
    assert connection.closed and connections._idle == []


def test_on_sqlite_a_row_the_database_refuses_fails_only_its_own_webhook(
    sqlite_template: Path, tmp_path: Path
) -> None:
    """Rows of concurrent webhooks share one transaction (group commit); one the database refuses
    fails its own webhook alone, the others of its group are committed."""
    shutil.copy(sqlite_template, tmp_path / "bridge.db")
    engine = create_db_engine(f"sqlite:///{tmp_path}/bridge.db")
    sessions = make_session_factory(engine)
    writer = SQLiteGroupCommit(sessions)
    good = [intake_row(parse_delivery(Source.ALERTMANAGER, body(n), WHEN), body(n), WHEN) for n in range(12)]
    bad = {**good[0], "dedup_key": "refused", "alert_count": None}  # NOT NULL
    outcomes: dict[int, object] = {}
    start = threading.Barrier(len(good) + 1)

    def submit(index: int, row: dict[str, object]) -> None:
        start.wait()
        try:
            outcomes[index] = writer.store(row)
        except Exception as exc:  # the outcome under test
            outcomes[index] = exc

    threads = [threading.Thread(target=submit, args=(i, row)) for i, row in enumerate([*good, bad])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    refused = outcomes.pop(len(good))
    assert isinstance(refused, IntegrityError)
    assert all(isinstance(intake_id, int) for intake_id in outcomes.values())
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Intake)) == len(good)
    engine.dispose()

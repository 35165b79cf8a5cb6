"""Database engine and sessions.

One pooled engine per process. On SQLite (the embedded default) every connection uses WAL with
full fsync, so an acknowledged write survives a crash, and `BEGIN IMMEDIATE`, so that the worker's
read-then-write transactions wait for the lock instead of failing half-way. Threads of one
process take turns through `_ProcessWriteLock` before asking SQLite: SQLite's own busy handler
sleeps with backoff, and under a storm some webhook would sleep past its timeout (measured with
bench/intake.py: 503s and a 9.5 s p99 without it).
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def create_db_engine(
    url: str, *, timeout: float = 5.0, pool_size: int = 10, read_only: bool = False
) -> Engine:
    """An engine for `url` (already normalized by settings), tuned for bridge's access pattern.

    A `read_only` engine (replays, reports) never takes the write lock: on SQLite its
    transactions are plain snapshots that the intake keeps writing beside."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": timeout})
        _sqlite_pragmas(engine, busy_ms=int(timeout * 1000), read_only=read_only)
        return engine
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeout,
        pool_recycle=1800,
        pool_pre_ping=True,  # after a database restart, a dead pooled connection is replaced, not a 503
        connect_args={"connect_timeout": max(1, int(timeout))},
        execution_options={"postgresql_readonly": True} if read_only else {},
    )


class _ProcessWriteLock:
    """One SQLite transaction at a time per process, handed over in turn.

    Taken when a transaction begins, given back when its connection returns to the pool (after
    the commit or rollback). Re-entrant for a thread that begins again before giving back.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._depth = 0

    def take(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            self._depth += 1
            return
        if not self._lock.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError(
                f"database is locked (waited {self.timeout:g}s for this process's turn)"
            )
        self._owner, self._depth = me, 1

    def give_back(self) -> None:
        if self._owner == threading.get_ident():
            self._owner, self._depth = None, 0
            self._lock.release()


def _sqlite_pragmas(engine: Engine, busy_ms: int, *, read_only: bool = False) -> None:
    turn = _ProcessWriteLock(busy_ms / 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" event below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    if read_only:  # a deferred BEGIN reads a snapshot and blocks no writer, in this process or others

        @event.listens_for(engine, "begin")
        def _on_begin_reading(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN")

        return

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        turn.take()
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except Exception:
            turn.give_back()
            raise

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, _record: Any) -> None:
        turn.give_back()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)

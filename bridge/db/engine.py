"""Database engine and sessions.

One pooled engine per process. On SQLite (the embedded default) every connection uses WAL with
full fsync, so an acknowledged write survives a crash. A session that writes (`session.begin()`)
starts with `BEGIN IMMEDIATE`, so that the worker's read-then-write transactions wait for the lock
instead of failing half-way; a session that only reads (its transaction begun by itself on first
use) starts with a plain `BEGIN`: a snapshot that WAL lets it read beside the writer, never
waiting for it (a webhook's token check, an API read, /metrics, /readyz during a long storm).

Writing threads of one process take turns through `WriteTurn` before asking SQLite, first
come first served: SQLite's own busy handler sleeps with backoff, and under a storm some webhook
would sleep past its timeout (measured with bench/intake.py: 503s and a 9.5 s p99 without it),
and a plain lock lets the worker take it back slice after slice while webhooks wait. A writer that
does not get its turn in time gets an `OperationalError` ("database is locked"), which the web
tier answers with 503 and Retry-After.

When `bridge serve` runs its worker in a child process (`write_turn_between_processes`),
the turn also takes a lock on a file beside the database (`<database>-turn`), so the two
processes take turns as the threads of one do, instead of SQLite's busy handler polling the
write lock with sleeps of up to 100 ms.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.session import SessionTransactionOrigin

_BEGIN_DUE = "bridge_begin_due"
"""connection.info key: a transaction was begun and its BEGIN is still to be sent (SQLite)."""
_READ_ONLY = "bridge_reads_only"
"""connection.info key: the transaction belongs to a session that only reads."""
_READING = "bridge_reading"
"""connection.info key: the transaction began as a snapshot, without the write lock."""
_HOLDS_TURN = "bridge_holds_turn"
"""connection.info key: this connection took the process's write turn and gives it back."""
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def create_db_engine(
    url: str, *, timeout: float = 5.0, pool_size: int = 10, read_only: bool = False
) -> Engine:
    """An engine for `url` (already normalized by settings), tuned for bridge's access pattern.

    A `read_only` engine (replays, reports) never takes the write lock: on SQLite its
    transactions are plain snapshots that the intake keeps writing beside."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": timeout},
            json_deserializer=json_loads,
        )
        database = make_url(url).database
        between = None
        if _shared_turns and not read_only and database not in (None, "", ":memory:"):
            between = None if str(database).startswith("file:") else ProcessLock(f"{database}-turn")
        _sqlite_pragmas(engine, busy_ms=int(timeout * 1000), read_only=read_only, between=between)
        return engine
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=timeout,
        pool_recycle=1800,
        connect_args={"connect_timeout": max(1, int(timeout))},
        execution_options={"postgresql_readonly": True} if read_only else {},
        json_deserializer=json_loads,
    )
    _ping_on_checkout(engine)
    return engine


def json_loads(data: str | bytes) -> Any:
    """A stored JSON value read back: orjson (4x the json module; a worker reads the labels and
    annotations of thousands of alert rows per batch), the json module for what orjson refuses
    (a lone surrogate, an integer beyond 64 bits), so every value reads as it did before."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


_IDLE_SINCE = "bridge_idle_since"
"""Connection record info key: when the connection was last returned to the pool (a connection
without it was just made, and needs no ping)."""


def _ping_on_checkout(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def checkin(dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None:
            return  # just connected
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # any failure means this connection is gone
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc
        if not alive:
            raise DisconnectionError("pooled connection failed its ping")


_shared_turns = False


@contextlib.contextmanager
def write_turn_between_processes(shared: bool = True) -> Iterator[None]:
    """SQLite file databases opened in this block (`shared`) take their write turn across
    processes too: the engines of `bridge serve` and of its worker process."""
    global _shared_turns  # noqa: PLW0603 - read by create_db_engine, within this block only
    before, _shared_turns = _shared_turns, _shared_turns or shared
    try:
        yield
    finally:
        _shared_turns = before


class ProcessLock:
    """An exclusive lock on a file, between processes (flock).

    Taken at once when free; otherwise a helper thread waits for it in the kernel, which wakes
    it as soon as the other process gives it back (polling with sleeps lost the race to a worker
    that begins its next transaction at once, and more so on a busy machine), while the caller
    waits no longer than its deadline. A wait given up releases the lock should it come after
    all. Each process opens the file itself (a lock belongs to the open file, which a forked
    child would otherwise share with its parent), and each wait opens it anew."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid: int | None = None
        self._held: int | None = None
        """The open file that holds the lock (this process's own, or a wait's)."""

    def acquire(self, deadline: float) -> bool:
        """Take the lock, waiting until the monotonic `deadline` at most; False if it did not come."""
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass
        else:
            self._held = fd
            return True
        wait = _LockWait(os.open(self.path, os.O_RDWR | os.O_CLOEXEC))
        if wait.result(deadline):
            self._held = wait.fd
            return True
        return False

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None or self._pid != os.getpid():
            return
        fcntl.flock(held, fcntl.LOCK_UN)
        if held != self._fd:
            os.close(held)

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
            self._held = None
        return self._fd


class _LockWait:
    """One blocking wait for a `ProcessLock`, in a thread of its own."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._guard = threading.Lock()
        self._taken = threading.Event()
        self._given_up = False
        threading.Thread(target=self._wait, name="bridge-write-turn", daemon=True).start()

    def _wait(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            os.close(self.fd)
            return
        with self._guard:
            if self._given_up:  # too late: the caller answered "database is locked" already
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                os.close(self.fd)
                return
            self._taken.set()

    def result(self, deadline: float) -> bool:
        self._taken.wait(max(0.0, deadline - time.monotonic()))
        with self._guard:
            if self._taken.is_set():
                return True
            self._given_up = True
            return False


class WriteTurn:
    """One SQLite write transaction at a time per process, handed over in the order asked for.

    Taken when a writing transaction sends its first statement, given back when that connection
    returns to the pool (after the commit or rollback; a read-only connection of the same thread
    returning gives nothing back). Re-entrant for a thread that begins again before giving back.
    A thread that waits longer than `timeout` gets "database is locked". With a `between`
    lock, the process's turn is then taken from the other processes too (`ProcessLock`).
    """

    def __init__(self, timeout: float, between: ProcessLock | None = None) -> None:
        self.timeout = timeout
        self.between = between
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[tuple[int, threading.Lock]] = deque()

    def take(self) -> None:
        me = threading.get_ident()
        deadline = time.monotonic() + self.timeout
        with self._mutex:
            if self._owner == me:
                self._depth += 1
                return
            first = self._owner is None and not self._waiting
            if first:
                self._owner, self._depth = me, 1
            else:
                handed = threading.Lock()
                handed.acquire()
                self._waiting.append((me, handed))
        if first:
            self._between_processes(deadline)
            return
        if handed.acquire(timeout=self.timeout):
            self._between_processes(deadline)  # give_back made us the owner
            return
        with self._mutex:
            if self._owner == me:
                handed_late = True  # handed over just as the wait ran out
            else:
                handed_late = False
                self._waiting.remove((me, handed))
        if handed_late:
            self._between_processes(deadline)
            return
        waited = f"waited {self.timeout:g}s for this process's turn"
        raise sqlite3.OperationalError(f"database is locked ({waited})")

    def _between_processes(self, deadline: float) -> None:
        """Having this process's turn, take it from the other processes: or give it back and
        raise "database is locked" once `deadline` is past."""
        if self.between is None or self.between.acquire(deadline):
            return
        self.give_back(between=False)
        raise sqlite3.OperationalError(f"database is locked (waited {self.timeout:g}s for another process)")

    @property
    def waiting(self) -> int:
        """Threads waiting for their turn."""
        with self._mutex:
            return len(self._waiting)

    def give_back(self, *, between: bool = True) -> None:
        """Give one turn taken back: by the connection that took it, returning to the pool (from
        whichever thread returns it)."""
        with self._mutex:
            if self._owner is None:
                return
            self._depth -= 1
            if self._depth > 0:
                return
            if between and self.between is not None:
                self.between.release()  # the other processes' waiter goes now, ours polls for it
            if self._waiting:
                owner, handed = self._waiting.popleft()
                self._owner, self._depth = owner, 1
                handed.release()
            else:
                self._owner, self._depth = None, 0


def _sqlite_pragmas(
    engine: Engine, busy_ms: int, *, read_only: bool = False, between: ProcessLock | None = None
) -> None:
    turn = WriteTurn(busy_ms / 1000, between)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # bridge sends BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        # Takes effect only on a new, empty file: a prune then gives freed pages back to the disk
        # (PRAGMA incremental_vacuum); an older file keeps them for reuse until a full VACUUM.
        # Asked only of an empty file: on one in use the pragma waits for the write lock, and a
        # reader must never wait for a writer.
        if not read_only and cursor.execute("PRAGMA page_count").fetchone()[0] == 0:
            cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Sent with the first statement: by then a session has said whether it only reads.
        connection.info[_BEGIN_DUE] = True
        connection.info.pop(_READ_ONLY, None)
        connection.info.pop(_READING, None)

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(
        connection: Any, cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> tuple[str, Any]:
        if connection.info.pop(_BEGIN_DUE, False):
            if read_only:
                cursor.execute("BEGIN")  # a snapshot; PRAGMA query_only refuses any write
            elif connection.info.pop(_READ_ONLY, False):
                cursor.execute("BEGIN")  # a snapshot: blocks no writer, waits for none
                connection.info[_READING] = True
            else:
                # A connection that began again before returning to the pool (Alembic, one
                # transaction per migration) still holds the turn: it gives it back once.
                holds = connection.info.get(_HOLDS_TURN, False)
                if not holds:
                    turn.take()  # raises "database is locked" when the turn does not come in time
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                except Exception:
                    if not holds:
                        turn.give_back()
                    raise
                connection.info[_HOLDS_TURN] = True
        if connection.info.get(_READING) and statement.lstrip().upper().startswith(_WRITES):
            # It would write without its turn and could fail half-way: a bug, not a busy database.
            raise sqlite3.ProgrammingError("a session that only reads cannot write: use session.begin()")
        return statement, parameters

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record.info.pop(_HOLDS_TURN, False):  # kept even when the connection was invalidated
            turn.give_back()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`. On SQLite a session used without `session.begin()` only reads: its
    transaction is a snapshot that never waits for a writer (and must not write)."""
    factory = sessionmaker(engine, expire_on_commit=False)
    if engine.dialect.name == "sqlite":

        @event.listens_for(factory, "after_begin")
        def _reading(_session: Session, transaction: SessionTransaction, connection: Any) -> None:
            if transaction.origin is SessionTransactionOrigin.AUTOBEGIN:
                connection.info[_READ_ONLY] = True

    return factory

"""What a failed database call means for whoever retries it.

The pipeline must tell apart a database that is down (everything waits and is retried later)
from data the database refuses (that delivery fails alone and the rest flow on). The decision
uses what the driver says, not the error's Python class alone:

- UNAVAILABLE: the database cannot be reached or used right now, whatever is written: a lost or
  invalidated connection, no connection to be had (pool timeout, refused, too many clients),
  SQLSTATE classes 08 (connection), 53 (insufficient resources: disk full, out of memory), 57P
  (shutdown, crash, database dropped), 58 (I/O), XX (internal, corruption), 3D/28 (no such
  database, authentication), 25006 (a read-only standby after a failover), a schema that is not
  bridge's (undefined table or column); on SQLite an I/O error, a full disk, a file that cannot
  be opened, corrupt or read-only.
- BUSY: a lock that was not granted in time: SQLite's "database is locked" (its busy timeout or
  this process's turn), PostgreSQL's lock and statement timeouts (55P03, 57014, 55006). The data
  is fine: retry later, never fail a delivery for it.
- CONFLICT: a collision with a concurrent transaction (serialization failure, deadlock, a unique
  key another worker just took): retry at once; one that persists is the data's.
- REFUSED: the database refuses this data: DataError (NUL in text, a value too long, a number
  out of range), other integrity violations, a statement it cannot run for these values, a
  string the driver cannot encode (a lone surrogate).
- ERROR: not a database error at all: content or a bug that the delivery triggers.
"""

from __future__ import annotations

import sqlite3
from enum import StrEnum

from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class Failure(StrEnum):
    UNAVAILABLE = "unavailable"
    BUSY = "busy"
    CONFLICT = "conflict"
    REFUSED = "refused"
    ERROR = "error"

    @property
    def waits(self) -> bool:
        """The database, not the data, is the trouble: leave the work pending for later."""
        return self in (Failure.UNAVAILABLE, Failure.BUSY)


UNAVAILABLE_CLASSES = ("08", "53", "57P", "58", "XX", "3D", "28")
"""SQLSTATE prefixes of a database that cannot serve any request right now."""
UNAVAILABLE_STATES = frozenset({"25006", "42P01", "42703", "42883", "3F000"})
"""Read-only standby; undefined table, column, function, schema (the schema is not bridge's)."""
BUSY_STATES = frozenset({"55P03", "57014", "55006"})
"""Lock not available, statement or lock timeout (query canceled), object in use."""
CONFLICT_STATES = frozenset({"40001", "40P01", "23505"})
"""Serialization failure, deadlock, unique violation (another worker took the key first)."""

SQLITE_BUSY = (5, 6)
"""SQLITE_BUSY, SQLITE_LOCKED."""
SQLITE_UNAVAILABLE = (3, 7, 8, 10, 11, 13, 14, 15, 23, 26)
"""PERM, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, AUTH, NOTADB."""
SQLITE_UNIQUE = (1555, 2067)
"""SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE (extended codes)."""


def classify(exc: BaseException) -> Failure:
    """What `exc`, raised by a database call (or by anything done in its transaction), means."""
    if isinstance(exc, PoolTimeout | DisconnectionError):
        return Failure.UNAVAILABLE
    if isinstance(exc, UnicodeError):
        return Failure.REFUSED  # a string no database encoding takes (a lone surrogate)
    if not isinstance(exc, DBAPIError):
        return Failure.ERROR
    if exc.connection_invalidated:
        return Failure.UNAVAILABLE
    if isinstance(exc.orig, sqlite3.Error):
        return _sqlite(exc, exc.orig)
    return _sqlstate(exc, _state(exc.orig))


def _sqlstate(exc: DBAPIError, state: str | None) -> Failure:
    if state is None:
        # No SQLSTATE: the driver's own failure (connection refused, closed, lost mid-query).
        if isinstance(exc, OperationalError | InterfaceError | InternalError):
            return Failure.UNAVAILABLE
        return Failure.REFUSED
    if state.startswith(UNAVAILABLE_CLASSES) or state in UNAVAILABLE_STATES:
        return Failure.UNAVAILABLE
    if state in BUSY_STATES:
        return Failure.BUSY
    if state in CONFLICT_STATES:
        return Failure.CONFLICT
    return Failure.REFUSED


def _sqlite(exc: DBAPIError, orig: sqlite3.Error) -> Failure:
    code: int | None = getattr(orig, "sqlite_errorcode", None)
    message = str(orig).lower()
    if code is None:  # not from SQLite: this process's write turn, or a value the module cannot bind
        return Failure.BUSY if "database is locked" in message else Failure.REFUSED
    if code in SQLITE_UNIQUE:
        return Failure.CONFLICT
    primary = code & 0xFF
    if primary in SQLITE_BUSY:
        return Failure.BUSY
    if primary in SQLITE_UNAVAILABLE or "no such table" in message or "no such column" in message:
        return Failure.UNAVAILABLE
    return Failure.REFUSED


def _state(orig: BaseException | None) -> str | None:
    """The SQLSTATE of a PostgreSQL driver error (psycopg: `sqlstate`, psycopg2: `pgcode`)."""
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return state if isinstance(state, str) else None


def describe(exc: BaseException) -> str:
    """A short account of `exc` for an intake row or a log line: the driver's message and its
    detail, without the statement and its parameters (which would carry the whole delivery)."""
    orig = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(orig).strip().splitlines()]
    said = [lines[0], *(line for line in lines[1:] if line.startswith("DETAIL:"))] if lines else []
    return f"{orig.__class__.__name__}: {' '.join(said)}"[:500] if said else orig.__class__.__name__

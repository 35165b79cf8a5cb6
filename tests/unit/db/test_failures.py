"""What a database error means, from what the driver says: SQLSTATEs and SQLite result codes that
a test cannot easily make a real server produce (a full disk, a crash, a failover), raised as the
drivers raise them. `tests/integration/test_failures.py` makes the real ones."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from psycopg import errors
from sqlalchemy.exc import DataError, IntegrityError, InternalError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bridge.db.failures import Failure, classify, describe


def wrapped(kind: type[Exception], orig: Exception) -> Exception:
    """`orig` as SQLAlchemy hands it over."""
    return kind("INSERT INTO alerts ...", {"name": "x"}, orig)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("kind", "orig", "expected"),
    [
        (OperationalError, errors.DiskFull("could not extend file"), Failure.UNAVAILABLE),  # 53100
        (OperationalError, errors.OutOfMemory("out of memory"), Failure.UNAVAILABLE),  # 53200
        (OperationalError, errors.TooManyConnections("sorry, too many clients"), Failure.UNAVAILABLE),
        (OperationalError, errors.ConnectionFailure("connection failure"), Failure.UNAVAILABLE),  # 08006
        (OperationalError, errors.AdminShutdown("terminating connection"), Failure.UNAVAILABLE),  # 57P01
        (OperationalError, errors.CrashShutdown("crash"), Failure.UNAVAILABLE),  # 57P02
        (
            OperationalError,
            errors.CannotConnectNow("the database system is starting up"),
            Failure.UNAVAILABLE,
        ),
        (OperationalError, errors.IoError("could not read block"), Failure.UNAVAILABLE),  # 58030
        (InternalError, errors.DataCorrupted("invalid page"), Failure.UNAVAILABLE),  # XX001
        (
            OperationalError,
            errors.InvalidCatalogName('database "bridge" does not exist'),
            Failure.UNAVAILABLE,
        ),
        (
            InternalError,
            errors.ReadOnlySqlTransaction("read-only transaction"),
            Failure.UNAVAILABLE,
        ),  # failover
        (
            OperationalError,
            psycopg.OperationalError("server closed the connection unexpectedly"),
            Failure.UNAVAILABLE,
        ),
        (OperationalError, errors.LockNotAvailable("could not obtain lock"), Failure.BUSY),  # 55P03
        (
            OperationalError,
            errors.QueryCanceled("canceling statement due to statement timeout"),
            Failure.BUSY,
        ),
        (OperationalError, errors.SerializationFailure("could not serialize access"), Failure.CONFLICT),
        (OperationalError, errors.DeadlockDetected("deadlock detected"), Failure.CONFLICT),
        (IntegrityError, errors.UniqueViolation("duplicate key value"), Failure.CONFLICT),
        (IntegrityError, errors.NotNullViolation("null value in column"), Failure.REFUSED),
        (IntegrityError, errors.CheckViolation("violates check constraint"), Failure.REFUSED),
        (DataError, errors.StringDataRightTruncation("value too long"), Failure.REFUSED),  # 22001
        (DataError, errors.NumericValueOutOfRange("integer out of range"), Failure.REFUSED),
        (DataError, errors.UntranslatableCharacter("unsupported Unicode escape sequence"), Failure.REFUSED),
        (
            DataError,
            psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
            Failure.REFUSED,
        ),
        (OperationalError, errors.ProgramLimitExceeded("index row size exceeds maximum"), Failure.REFUSED),
        (ProgrammingError, errors.UndefinedTable('relation "alerts" does not exist'), Failure.UNAVAILABLE),
        (ProgrammingError, errors.UndefinedColumn('column "progress" does not exist'), Failure.UNAVAILABLE),
    ],
)
def test_postgresql_errors(kind: type[Exception], orig: Exception, expected: Failure) -> None:
    assert classify(wrapped(kind, orig)) is expected


def sqlite_error(kind: type[sqlite3.Error], message: str, code: int | None) -> sqlite3.Error:
    error = kind(message)
    if code is not None:  # what the sqlite3 module sets on an error SQLite itself returned
        error.sqlite_errorcode = code
    return error


@pytest.mark.parametrize(
    ("kind", "orig", "expected"),
    [
        (OperationalError, sqlite_error(sqlite3.OperationalError, "database is locked", 5), Failure.BUSY),
        (
            OperationalError,
            sqlite_error(sqlite3.OperationalError, "database table is locked", 6),
            Failure.BUSY,
        ),
        (
            OperationalError,
            sqlite_error(sqlite3.OperationalError, "database is locked (waited 5s ...)", None),
            Failure.BUSY,
        ),
        (OperationalError, sqlite_error(sqlite3.OperationalError, "disk I/O error", 10), Failure.UNAVAILABLE),
        (
            OperationalError,
            sqlite_error(sqlite3.OperationalError, "database or disk is full", 13),
            Failure.UNAVAILABLE,
        ),
        (
            OperationalError,
            sqlite_error(sqlite3.OperationalError, "unable to open database file", 14),
            Failure.UNAVAILABLE,
        ),
        (
            OperationalError,
            sqlite_error(sqlite3.OperationalError, "attempt to write a readonly database", 8),
            Failure.UNAVAILABLE,
        ),
        (
            OperationalError,
            sqlite_error(sqlite3.OperationalError, "no such table: alerts", 1),
            Failure.UNAVAILABLE,
        ),
        (DataError, sqlite_error(sqlite3.DataError, "string or blob too big", 18), Failure.REFUSED),
        (
            IntegrityError,
            sqlite_error(sqlite3.IntegrityError, "UNIQUE constraint failed", 2067),
            Failure.CONFLICT,
        ),
        (
            IntegrityError,
            sqlite_error(sqlite3.IntegrityError, "NOT NULL constraint failed", 1299),
            Failure.REFUSED,
        ),
        (
            ProgrammingError,
            sqlite_error(sqlite3.ProgrammingError, "Error binding parameter 1", None),
            Failure.REFUSED,
        ),
    ],
)
def test_sqlite_errors(kind: type[Exception], orig: Exception, expected: Failure) -> None:
    assert classify(wrapped(kind, orig)) is expected


def test_an_invalidated_connection_is_unavailable_whatever_its_class() -> None:
    error = DataError("SELECT 1", {}, psycopg.DataError("odd"), connection_invalidated=True)
    assert classify(error) is Failure.UNAVAILABLE


def test_no_connection_is_unavailable_an_unencodable_string_refused_anything_else_not_the_databases() -> None:
    assert classify(PoolTimeout("QueuePool limit of size 10 overflow 10 reached")) is Failure.UNAVAILABLE
    assert classify(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")) is Failure.REFUSED
    assert classify(RuntimeError("a bug")) is Failure.ERROR


def test_only_unavailable_and_busy_make_the_work_wait() -> None:
    assert {f for f in Failure if f.waits} == {Failure.UNAVAILABLE, Failure.BUSY}


def test_the_description_is_the_drivers_message_without_the_statement_or_its_values() -> None:
    error = wrapped(
        DataError, errors.StringDataRightTruncation("value too long for type character varying(200)")
    )
    assert describe(error) == "StringDataRightTruncation: value too long for type character varying(200)"
    assert describe(RuntimeError("a bug\nmore")) == "RuntimeError: a bug"
    assert describe(RuntimeError()) == "RuntimeError"

"""Reference server 1: parse the webhook's JSON, INSERT one row per alert into PostgreSQL, commit
(synchronous_commit on, the server's default), answer 202. One connection per gunicorn thread.

The database is `BENCH_REFERENCE_DATABASE_URL` (a libpq URL); the table is created if missing.
"""

from __future__ import annotations

import os
import threading

import psycopg

from bench.reference.common import Row, make_app

SCHEMA = """
CREATE TABLE IF NOT EXISTS reference_alerts (
    id bigserial PRIMARY KEY,
    source text NOT NULL,
    fingerprint text NOT NULL,
    status text NOT NULL,
    starts_at text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO reference_alerts (source, fingerprint, status, starts_at) VALUES (%s, %s, %s, %s)"

_local = threading.local()


def _connection() -> psycopg.Connection:
    connection: psycopg.Connection | None = getattr(_local, "connection", None)
    if connection is None or connection.closed:
        connection = psycopg.connect(os.environ["BENCH_REFERENCE_DATABASE_URL"])
        _local.connection = connection
    return connection


def _store(rows: list[Row]) -> None:
    connection = _connection()
    with connection.cursor() as cursor:
        for row in rows:  # one INSERT per alert, as the reference says
            cursor.execute(INSERT, row)
    connection.commit()


def create_schema(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SCHEMA)


app = make_app(_store)

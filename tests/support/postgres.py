"""A real PostgreSQL for the tests: `BRIDGE_TEST_DATABASE_URL` when set, else a throwaway cluster
started from the installed binaries (as the `postgres` user when running as root, since initdb
refuses root). Either way each test run gets a fresh database, dropped at the end."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg


class Unavailable(Exception):
    pass


def _binaries() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    return Path(candidates[0]).parent if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster that a test may stop (immediate mode: like a crash) and start."""

    url: str
    bindir: Path
    data: Path
    options: str
    log: Path
    run_as: dict[str, str]

    def start(self) -> None:
        subprocess.run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                self.options,
                "-l",
                str(self.log),
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            **self.run_as,
        )  # type: ignore[call-overload]

    def stop(self) -> None:
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
            **self.run_as,
        )  # type: ignore[call-overload]


@contextlib.contextmanager
def throwaway_cluster(*, durable: bool = False) -> Iterator[str]:
    """Start a PostgreSQL cluster in a temporary directory; yields a libpq URL to it.

    Tests run without fsync (faster, nothing to survive); benchmarks pass `durable=True` so that
    a commit costs what it costs in production.
    """
    with cluster(durable=durable) as started:
        yield started.url


@contextlib.contextmanager
def cluster(*, durable: bool = False) -> Iterator[Cluster]:
    """Like `throwaway_cluster`, yielding the cluster itself (to stop and start it)."""
    bindir = _binaries()
    if bindir is None:
        raise Unavailable(
            "PostgreSQL binaries (initdb, pg_ctl) not found; install postgresql "
            "or set BRIDGE_TEST_DATABASE_URL"
        )
    run_as: dict[str, str] = {"user": "postgres"} if os.geteuid() == 0 else {}
    base = Path(tempfile.mkdtemp(prefix="bridge-pg-"))
    if run_as:
        shutil.chown(base, user="postgres")
    data = base / "data"
    port = free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    started = Cluster(
        url=f"postgresql://postgres@127.0.0.1:{port}/postgres",
        bindir=bindir,
        data=data,
        options=options,
        log=base / "log",
        run_as=run_as,
    )
    try:
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            **run_as,
        )  # type: ignore[call-overload]
        started.start()
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise Unavailable(
            f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')[-500:]}"
        ) from None
    try:
        yield started
    finally:
        started.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Create a new database on `server_url`'s server; yields its SQLAlchemy URL; drops it after."""
    name = f"bridge_test_{uuid.uuid4().hex[:10]}"
    admin = server_url.replace("postgresql+psycopg://", "postgresql://")
    deadline = time.monotonic() + 10
    while True:
        try:
            with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

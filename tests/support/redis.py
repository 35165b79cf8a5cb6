"""A real Redis for the tests: `BRIDGE_TEST_REDIS_URL` when set, else a throwaway `redis-server`
started from the installed binary on a free port, without persistence. A throwaway server can be
stopped and started again on the same port (the fault tests do), and frozen with SIGSTOP to play
a Redis that accepts connections but never answers."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis

from tests.support.postgres import free_port


class Unavailable(Exception):
    pass


@dataclass
class RedisServer:
    url: str
    port: int
    directory: Path | None = None  # None: a server the tests did not start (cannot be stopped)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def controllable(self) -> bool:
        return self.directory is not None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def flush(self) -> None:
        with self.client() as client:
            client.flushdb()

    def start(self) -> None:
        assert self.directory is not None, "cannot start a Redis the tests did not start"
        binary = shutil.which("redis-server")
        assert binary is not None
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                with self.client() as client:
                    client.ping()
                return
            except redis.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise Unavailable(
                        f"redis-server did not start: {(self.directory / 'redis.log').read_text()[-500:]}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop it (like a crash: nothing is saved, since nothing persists)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        """It keeps its port and accepts connections, but answers nothing until `thaw`."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


@contextlib.contextmanager
def throwaway_redis(*, own: bool = False) -> Iterator[RedisServer]:
    """A flushed Redis; with `own`, always one started here (for tests that stop or freeze it)."""
    configured = None if own else os.environ.get("BRIDGE_TEST_REDIS_URL")
    if configured:
        port = int(redis.Redis.from_url(configured).connection_pool.connection_kwargs.get("port", 6379))
        server = RedisServer(url=configured, port=port)
        try:
            server.flush()
        except redis.RedisError as exc:
            raise Unavailable(f"BRIDGE_TEST_REDIS_URL={configured} does not answer: {exc}") from None
        yield server
        return
    if shutil.which("redis-server") is None:
        raise Unavailable(
            "redis-server is not installed (scripts/bootstrap --dev installs it), or set BRIDGE_TEST_REDIS_URL"
        )
    directory = Path(tempfile.mkdtemp(prefix="bridge-redis-"))
    port = free_port()
    server = RedisServer(url=f"redis://127.0.0.1:{port}/0", port=port, directory=directory)
    try:
        server.start()
        yield server
    finally:
        if server.process is not None:
            server.thaw()
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)

"""Shared pieces of the benchmarks: a fresh database of the kind asked for, and the JSON line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from redis import Redis
from rq import Queue, Worker

from bridge.db.engine import create_db_engine
from bridge.db.migrate import upgrade
from bridge.integrations.queue import QUEUE_NAME
from bridge.settings import normalize_database_url
from tests.support.postgres import fresh_database as fresh_pg
from tests.support.postgres import throwaway_cluster
from tests.support.redis import throwaway_redis
from tests.support.stack import Stack, wait_for

REPO = Path(__file__).resolve().parents[1]
NAMES = [
    ("HostDown", "critical"),
    ("NodeFilesystemAlmostOutOfSpace", "warning"),
    ("NodeHighCPU", "high"),
    ("NodeMemoryHigh", "warning"),
    ("Chatter", "info"),
]
"""The five alerts per host of bench.pipeline's and bench.stormscale's storms."""


def serve_env(database_url: str, token: str) -> dict[str, str]:
    """The environment of a `bridge serve` under benchmark: the shell's BRIDGE_* settings left
    out, the example rules, quiet logs, one throwaway token for everything."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")},
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_RULES_DIR": str(REPO / "rules"),
        "BRIDGE_LOG_LEVEL": "WARNING",
        "BRIDGE_ALERTMANAGER_TOKEN": token,
        "BRIDGE_ZABBIX_TOKEN": token,
        "BRIDGE_ADMIN_TOKEN": token,
    }


def database_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default="sqlite",
        help="sqlite, postgres (a throwaway durable cluster from the installed binaries), "
        "or a postgresql:// server URL to create a fresh database on",
    )


@contextlib.contextmanager
def fresh_database(kind: str) -> Iterator[str]:
    """A migrated, empty database URL, removed afterwards."""

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bridge-bench-") as directory:
            url = f"sqlite:///{directory}/bridge.db"
            _migrate(url)
            yield url
        return
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(throwaway_cluster(durable=True)) if kind == "postgres" else kind
        url = normalize_database_url(stack.enter_context(fresh_pg(server)))
        _migrate(url)
        yield url


def _migrate(url: str) -> None:
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()


def report(benchmark: str, workload: str, figures: dict[str, Any]) -> None:
    """Print the benchmark's one JSON line."""
    line = {
        "benchmark": benchmark,
        "workload": workload,
        **figures,
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
    }
    print(json.dumps(line))


def production_stack(
    stack_of: contextlib.ExitStack, rules: Path, workers: int, settings: dict[str, str] | None = None
) -> Stack:
    """bridge in production mode on throwaway servers (a durable PostgreSQL cluster, Redis):
    migrated, gunicorn with 2 processes serving, `workers` bridge workers processing, with
    `settings` (BRIDGE_* variables) over bridge's defaults. The caller stops the stack
    (`Stack.stop`); `stack_of` then removes the servers and the logs."""
    server = stack_of.enter_context(throwaway_cluster(durable=True))
    database = stack_of.enter_context(fresh_pg(server))
    redis = stack_of.enter_context(throwaway_redis(own=True))
    logs = Path(stack_of.enter_context(tempfile.TemporaryDirectory(prefix="bridge-bench-")))
    stack = Stack(
        database,
        redis.url,
        rules,
        logs,
        web_workers=2,
        extra_env={
            "BRIDGE_LOG_LEVEL": "WARNING",
            "BRIDGE_TICK_SECONDS": "1",
            "BRIDGE_SWEEP_GRACE": "30s",
            **(settings or {}),
        },
    )
    stack.migrate()
    stack.start_web()
    for _ in range(workers):
        stack.start_worker()
    wait_for_workers(stack, workers)
    return stack


def wait_for_workers(stack: Stack, workers: int, timeout: float = 60) -> None:
    """Return once `workers` bridge workers listen on the queue. A worker takes about two
    seconds to start (imports, its runtime); a workload posted before then measures the start,
    not the workload: the first alerts of bench.stormscale's storm waited 1.7-2.0 s for their
    incident, every later one 0.03-0.2 s (one alert at a time, 2026-12-06)."""
    with Redis.from_url(stack.redis_url) as redis:
        wait_for(
            lambda: len(Worker.all(connection=redis, queue=Queue(QUEUE_NAME, connection=redis))) >= workers,
            timeout,
            f"{workers} bridge workers listening",
            0.05,
        )

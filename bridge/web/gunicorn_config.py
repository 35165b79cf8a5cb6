"""gunicorn settings for bridge's web tier:

    gunicorn --config python:bridge.web.gunicorn_config 'bridge.web.wsgi:create()'

Threaded workers (`gthread`): a webhook spends its time waiting on the database commit, so a few
threads per process keep the cores busy; processes scale with cores (WEB_CONCURRENCY, default 2).
The command line or GUNICORN_CMD_ARGS override any of these. Metrics use prometheus_client's
multiprocess mode, so /metrics adds up every worker's counters whichever worker answers.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

# Before prometheus_client is imported (here, and by every worker): it picks its multiprocess
# mode at import, and counters then live in files the workers share.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bridge-metrics-")

from prometheus_client import multiprocess

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "bridge.web.gunicorn_worker.JsonErrorWorker"  # gthread, its own errors in JSON
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 30  # a request takes milliseconds; a worker silent this long is stuck and replaced
graceful_timeout = 30  # on SIGTERM, requests in flight get this long to finish
keepalive = 5  # Alertmanager keeps its connections open between notifications
max_requests = 20000  # recycle workers now and then: a slow leak never grows unbounded
max_requests_jitter = 2000
accesslog = "-"
logger_class = "bridge.web.gunicorn_logger.AccessLogger"  # mail links' tokens masked in the access log
errorlog = "-"


def on_starting(server: Any) -> None:
    """Start with no counters left from a previous run: the files of processes that are gone.
    Those of running processes stay, so `bridge worker`s on this machine may share the directory
    (and be added up on /metrics) whether they started before gunicorn or after."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for path in directory.glob("*.db"):
        if not _running(_pid_of(path)):
            path.unlink(missing_ok=True)


def _pid_of(path: Path) -> int | None:
    """prometheus_client names its files `<kind>_<pid>.db` (counter_812.db, gauge_livesum_812.db)."""
    tail = path.stem.rpartition("_")[2]
    return int(tail) if tail.isdigit() else None


def _running(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: running
    return True


def child_exit(server: Any, worker: Any) -> None:
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

"""The rq jobs: importable module-level functions taking plain ids (JSON-serialized by rq).

A job opens its own database sessions through the runtime of the worker process it runs in.
That runtime (engine pool, rules, pipeline) is built once per process, by `bridge worker`
(`install`) or on the first job, never per job.
"""

from __future__ import annotations

import threading

from bridge.settings import Settings
from bridge.worker.runtime import Runtime

_runtime: Runtime | None = None
_lock = threading.Lock()


def install(runtime: Runtime) -> None:
    """Make `runtime` the one this process's jobs run with."""
    global _runtime  # noqa: PLW0603 - one runtime per worker process is the point
    with _lock:
        _runtime = runtime


def current() -> Runtime:
    """This process's runtime, built from the environment on first use."""
    global _runtime  # noqa: PLW0603
    with _lock:
        if _runtime is None:
            _runtime = Runtime.build(Settings.from_env())
        return _runtime


def process_intake(intake_id: int) -> dict[str, int]:
    """Process delivery `intake_id` and whatever is still pending before it (see
    `Pipeline.process_through`); returns counts for `rq info` and the logs."""
    runtime = current()
    if runtime.queue is not None:
        runtime.queue.started()  # before looking for pending deliveries: see IntakeQueue.wake
    result = runtime.services.pipeline.process_through(int(intake_id))
    return {"deliveries": result.deliveries, "alerts": result.alerts, "failed": result.failed}

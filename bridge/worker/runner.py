"""The in-process worker thread of the embedded default (`bridge serve` without Redis).

The thread wakes when a service hands work over (`Wakeup`: a webhook stored a delivery, an action
queued a notification) or every tick, and runs one `Tick`: everything pending, then what is due.
The database is the queue, so a restart simply carries on with whatever is still pending.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from bridge.db.failures import classify, describe
from bridge.worker.tick import Tick

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
"""Longest wait between rounds while the database keeps failing."""


class Wakeup:
    """The hand-off of the embedded default: wakes the in-process runner, or the worker process
    of `bridge serve` (`forward_to`: a byte down a pipe it reads)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._pipe: int | None = None

    def forward_to(self, pipe: int | None) -> None:
        """Wake the worker at the other end of this pipe (None: this process's runner again)."""
        if pipe is not None:
            os.set_blocking(pipe, False)
        self._pipe = pipe

    def deliveries(self, intake_ids: Sequence[int]) -> bool:
        self.work()
        return True

    def work(self) -> None:
        self.event.set()
        pipe = self._pipe
        if pipe is not None:
            # Full (the worker has wake-ups to read already) or closed: what was handed over is
            # committed either way, and found on the next round.
            with contextlib.suppress(OSError):
                os.write(pipe, b"w")


class InProcessRunner:
    def __init__(self, tick: Tick, wakeup: Wakeup, tick_seconds: float = 1.0) -> None:
        self.tick = tick
        self.wakeup = wakeup
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one round at a time (the thread, or a test calling drain)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="bridge-worker", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.wakeup.event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def drain(self) -> int:
        """One round now: everything pending, then what is due; returns how many deliveries ran."""
        with self._lock:
            return self.tick.run().deliveries

    def _loop(self) -> None:
        backoff = self.tick_seconds
        while not self._stop.is_set():
            self.wakeup.event.wait(backoff)
            self.wakeup.event.clear()
            if self._stop.is_set():
                break
            try:
                self.drain()
                backoff = self.tick_seconds
            except SQLAlchemyError as exc:
                backoff = min(backoff * 2, MAX_BACKOFF)
                # Data the database refuses fails its delivery alone (the pipeline): this is the
                # database itself, or a timer or a job that failed (logged with its traceback).
                failure = classify(exc)
                if failure.waits:
                    log.warning("database %s (%s); retrying in %.0fs", failure, describe(exc), backoff)
                else:
                    log.exception("worker round failed (%s); retrying in %.0fs", describe(exc), backoff)
            except Exception:
                backoff = min(backoff * 2, MAX_BACKOFF)
                log.exception("worker round failed; retrying in %.0fs", backoff)

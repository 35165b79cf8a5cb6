"""The embedded worker in a process of its own: what `bridge serve` runs on a SQLite file.

The worker thread shared the web threads' interpreter lock: while it decided (most of its time
under load) a webhook waited for the lock at every step, and together they could not use more
than one core (bench/sidebyside.py's `embedded` server: the worker thread held the lock about
four fifths of the time it was held at all). So `bridge serve` forks this process before it
listens, and the process runs what the thread ran (`Runtime.start`: the runner, the bot's
poll, the file watcher) on a runtime of its own, with the same settings. To the user it is the
same: one command, one SQLite file, no Redis.

The parent wakes it down a pipe (`Wakeup.forward_to`): a byte per hand-off, read here and turned
into a wake-up of the runner. The pipe also ends it: when the parent closes it (stopping) or
dies, the read finds its end, and this process finishes its round and exits. The database is the
queue, so nothing is lost either way: what is pending waits for the next start. SIGINT (Ctrl-C
in the terminal reaches the whole process group) is left to the parent, which then stops this
process in order; SIGTERM stops it the same way; SIGHUP reloads its rules and rota.

The two processes take turns at the write lock through `bridge.db.engine.ProcessLock`, as the
threads of one process do through its `WriteTurn`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

from bridge.worker.process import lower_priority, tune_collector
from bridge.worker.runtime import Runtime

log = logging.getLogger("bridge")

GO = b"g"
"""The parent's first byte: it serves, the worker may start (anything else, or the pipe's end:
it stopped before serving)."""
STOP_SECONDS = 10.0
"""How long the parent waits for the worker to finish its round when stopping, before SIGKILL
(the runner itself waits 10 s for its thread)."""


class ChildWorker:
    """The parent's side: the worker's pid, the pipe that wakes it, and a thread that notices
    should it die while the parent serves."""

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid = pid
        self.pipe: int | None = pipe
        self._exited = threading.Event()
        self._status: int | None = None
        self._stopping = False
        self._watcher: threading.Thread | None = None

    @classmethod
    def fork(cls, build: Callable[[], Runtime], reload: Callable[[Runtime], None]) -> ChildWorker:
        """Fork the worker process. It waits for `go`, then runs the runtime `build` makes;
        `reload(runtime)` on SIGHUP. Call before this process starts threads or listens."""
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker process: never returns into the parent's code
            os.close(write)
            _child(build, reload, read)
        os.close(read)
        return cls(pid, write)

    def go(self, on_exit: Callable[[int], None]) -> int:
        """Let the worker start; returns the pipe that wakes it. `on_exit(status)` is called (from
        a thread of this process) should the worker exit before `stop`."""
        assert self.pipe is not None
        os.write(self.pipe, GO)

        def watch() -> None:
            _, status = os.waitpid(self.pid, 0)
            self._status = status
            self._exited.set()
            if not self._stopping:
                on_exit(status)

        self._watcher = threading.Thread(target=watch, name="bridge-worker-process", daemon=True)
        self._watcher.start()
        return self.pipe

    def reload(self) -> None:
        """Have the worker reload its rules and rota (SIGHUP)."""
        if not self._exited.is_set():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGHUP)

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """End the worker: close its pipe, let it finish its round, SIGKILL it after `timeout`."""
        self._stopping = True
        if self.pipe is not None:
            os.close(self.pipe)
            self.pipe = None
        if self._watcher is None:  # never started: nobody waits for it yet
            _, self._status = os.waitpid(self.pid, 0)
            return
        if not self._exited.wait(timeout):
            log.warning("worker process %d did not stop in %.0fs: killing it", self.pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._exited.wait(5)


def _child(build: Callable[[], Runtime], reload: Callable[[Runtime], None], pipe: int) -> NoReturn:
    """The worker process's life; ends with os._exit (the parent's objects it inherited, its
    database connections among them, are the parent's to close, not this process's)."""
    code = 1
    try:
        code = _run(build, reload, pipe)
    except BaseException:
        log.exception("the worker process failed")
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    os._exit(code)


def _run(build: Callable[[], Runtime], reload: Callable[[Runtime], None], pipe: int) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops this process after Ctrl-C

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until there are rules to reload
    try:
        if os.read(pipe, 1) != GO:
            return 0  # the parent stopped before it served
    except KeyboardInterrupt:
        return 0
    runtime = build()
    # As `bridge worker` does: the web threads, where a sender waits for each 2xx, go first.
    lower_priority(runtime.settings.worker_nice)
    tune_collector()
    signal.signal(signal.SIGHUP, lambda _signum, _frame: reload(runtime))
    try:
        runtime.start()
        wakeup = runtime.runner.wakeup
        while os.read(pipe, 4096):  # b"": the parent closed its end (stopping) or died
            wakeup.work()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()
    return 0

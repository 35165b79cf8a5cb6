"""The rules in force, swapped atomically on reload; a bad reload keeps the last good rules live.

Reloads happen on `POST /api/rules/reload`, on SIGHUP, and when the files change: `watch` polls
the directory's files (names, sizes, modification times) every few seconds in each process, so
that every web and worker process picks up an edit on its own, whichever one was asked.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_dir, rule_files
from bridge.errors import RulesError

log = logging.getLogger(__name__)

Signature = tuple[tuple[str, int, int], ...]


def directory_signature(directory: Path) -> Signature:
    """What changes when a rules file is edited, added or removed (empty if the directory is gone)."""
    try:
        found = []
        for path in rule_files(directory):
            stat = path.stat()
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(found)
    except OSError:
        return ()


class LiveRules:
    def __init__(self, directory: Path, tz: tzinfo = UTC) -> None:
        """Load `directory`; raises RulesError when the very first load fails (refuse to start)."""
        self.directory = directory
        self.tz = tz
        self._lock = threading.Lock()
        self._signature = directory_signature(directory)
        self.engine = Engine(load_rules_dir(directory), tz)
        self.loaded_at = datetime.now(UTC)
        self.last_error: RulesError | None = None
        self.last_error_at: datetime | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._also: tuple[Callable[[], object], ...] = ()

    def reload(self) -> bool:
        """Load the directory again; on failure keep the current rules and remember the error."""
        with self._lock:
            self._signature = directory_signature(self.directory)
            try:
                rules = load_rules_dir(self.directory)
            except RulesError as exc:
                self.last_error, self.last_error_at = exc, datetime.now(UTC)
                log.error("rules reload refused, keeping version %s:\n%s", self.engine.rules.version, exc)
                return False
            self.engine = Engine(rules, self.tz)
            self.loaded_at = datetime.now(UTC)
            self.last_error = self.last_error_at = None
            log.info("rules reloaded: version %s, %d rules", rules.version, len(rules.rules))
            return True

    def reload_if_changed(self) -> bool | None:
        """Reload when the files changed since the last attempt: True / False as `reload`, None if
        nothing changed. A refused version is not tried again until the files change again."""
        if directory_signature(self.directory) == self._signature:
            return None
        return self.reload()

    def watch(self, every: timedelta, also: Sequence[Callable[[], object]] = ()) -> None:
        """Poll the files every `every` in a background thread (no-op for 0 or when watching);
        `also` are checks of other files to run on the same beat (the rota's)."""
        if every <= timedelta(0) or self._watcher is not None:
            return
        self._stop.clear()
        self._also = tuple(also)
        self._watcher = threading.Thread(
            target=self._watch, args=(every.total_seconds(),), name="bridge-rules-watch", daemon=True
        )
        self._watcher.start()

    def stop_watching(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(5)
            self._watcher = None

    def _watch(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            for check in (self.reload_if_changed, *self._also):
                try:
                    check()
                except Exception:  # a watcher that dies would silently stop reloads
                    log.exception("checking for changed files failed")

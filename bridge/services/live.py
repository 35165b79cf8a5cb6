"""The rules and the rota in force, read from their files and swapped atomically when the files
change; an edit with mistakes is refused, remembered with its mistakes, and the last good
version stays live.

`LiveRules` (the rules directory) and `LiveRota` (`rota.yaml`) are one `LiveFiles` each: what
differs is only how the files are read and what they describe. Reloads happen on `POST
/api/rules/reload` and `/api/oncall/reload`, on SIGHUP, and when the files change: a
`FileWatcher` compares the files' names, sizes and modification times every few seconds in each
process, so that every web and worker process picks up an edit on its own.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from bridge.clock import Clock, SystemClock
from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_dir, rule_files
from bridge.errors import RulesError
from bridge.ticketing.rota import Rota
from bridge.ticketing.rota_loader import empty_rota, load_rota_file, rota_path

log = logging.getLogger(__name__)

FILES_CHANGED = "bridge: the files changed"
"""Who reloads when the watcher or the tick sees the files change."""

T = TypeVar("T")
Signature = tuple[tuple[str, int, int], ...]
"""(name, modification time in ns, size) of every file read: what changes when one is edited."""


def files_signature(paths: Callable[[], Sequence[Path]]) -> Signature:
    """The signature of the files `paths` lists now (empty when they are gone)."""
    try:
        found = []
        for path in paths():
            stat = path.stat()
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(found)
    except OSError:
        return ()


class LiveFiles(ABC, Generic[T]):
    """A value loaded from files, swapped atomically on reload; a refused reload keeps the last
    good value and remembers why (`last_error`)."""

    what = "files"

    def __init__(self, clock: Clock) -> None:
        """Load for the first time; raises RulesError when that fails (bridge refuses to start)."""
        self.clock = clock
        self._lock = threading.Lock()
        self._signature = self.signature()
        self.current: T = self.load()
        self.loaded_at: datetime = clock.now()
        self.last_error: RulesError | None = None
        self.last_error_at: datetime | None = None

    @abstractmethod
    def load(self) -> T:
        """Read and validate the files; RulesError with every mistake."""

    @abstractmethod
    def signature(self) -> Signature:
        """What changes when one of the files is edited, added or removed."""

    @abstractmethod
    def version(self, value: T) -> str:
        """The version (content hash) of a loaded value."""

    @abstractmethod
    def describe(self, value: T) -> str:
        """What a successful load brought, for the log."""

    def reload(self, actor: str) -> bool:
        """Load the files again (`actor` asked: a person, a signal, or bridge seeing the files
        change); on failure keep the current value and remember the error."""
        with self._lock:
            self._signature = self.signature()  # a refused version is not tried again until it changes
            try:
                value = self.load()
            except RulesError as exc:
                self.last_error, self.last_error_at = exc, self.clock.now()
                log.error(
                    "%s reload (by %s) refused, keeping version %s:\n%s",
                    self.what,
                    actor,
                    self.version(self.current),
                    exc,
                )
                return False
            self.current = value
            self.loaded_at = self.clock.now()
            self.last_error = self.last_error_at = None
            log.info("%s reloaded (by %s): %s", self.what, actor, self.describe(value))
            return True

    def reload_if_changed(self) -> bool | None:
        """Reload when the files changed since the last attempt: True / False as `reload`, None
        when nothing changed."""
        if self.signature() == self._signature:
            return None
        return self.reload(FILES_CHANGED)


class LiveRules(LiveFiles[Engine]):
    """The rules directory, as the engine that decides with them."""

    what = "rules"

    def __init__(self, directory: Path, tz: tzinfo | None = None, clock: Clock | None = None) -> None:
        self.directory = directory
        self.tz = tz or ZoneInfo("UTC")
        super().__init__(clock or SystemClock())

    @property
    def engine(self) -> Engine:
        return self.current

    def load(self) -> Engine:
        return Engine(load_rules_dir(self.directory), self.tz)

    def signature(self) -> Signature:
        return files_signature(lambda: rule_files(self.directory))

    def version(self, value: Engine) -> str:
        return value.rules.version

    def describe(self, value: Engine) -> str:
        return f"version {value.rules.version}, {len(value.rules.rules)} rules"


class LiveRota(LiveFiles[Rota]):
    """`rota.yaml` of the rules directory. Without the file bridge runs with an empty rota:
    incidents get deadlines but nobody is paged."""

    what = "rota"

    def __init__(self, rules_dir: Path, tz: ZoneInfo, clock: Clock | None = None) -> None:
        self.path = rota_path(rules_dir)
        self.tz = tz
        super().__init__(clock or SystemClock())

    @property
    def rota(self) -> Rota:
        return self.current

    def load(self) -> Rota:
        return load_rota_file(self.path, self.tz) if self.path.exists() else empty_rota(self.tz)

    def signature(self) -> Signature:
        return files_signature(lambda: [self.path])

    def version(self, value: Rota) -> str:
        return value.version

    def describe(self, value: Rota) -> str:
        return f"version {value.version}, {len(value.people)} people, {len(value.schedules)} schedules"


class Reloadable(Protocol):
    @property
    def what(self) -> str: ...

    def reload_if_changed(self) -> bool | None: ...


class FileWatcher:
    """Checks files for changes every `every` in a background thread (BRIDGE_RULES_WATCH)."""

    def __init__(self, files: Sequence[Reloadable], every: timedelta) -> None:
        self.files = tuple(files)
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (nothing for an interval of 0, or when already watching)."""
        if self.every <= timedelta(0) or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="bridge-file-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _watch(self) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            for live in self.files:
                try:
                    live.reload_if_changed()
                except Exception:  # a watcher that dies would silently stop reloads
                    log.exception("checking the %s files for changes failed", live.what)

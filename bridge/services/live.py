"""The rules and the rota in force, read from their files and swapped atomically when the files
change; an edit with mistakes is refused, remembered with its mistakes, and the last good
version stays live.

`LiveRules` (the rules directory) and `LiveRota` (`rota.yaml`) are one `LiveFiles` each: what
differs is only how the files are read and what they describe. Reloads happen on `POST
/api/rules/reload` and `/api/oncall/reload`, on SIGHUP, and when the files change: a
`FileWatcher` compares the files' names, inodes, sizes and modification times every few seconds
in each process, so that every web and worker process picks up an edit on its own.

A file is written in steps, and a half-written rules file can parse (as fewer rules, or as the
defaults alone: every alert P3 at once). So a change is reloaded only once the files stayed
unchanged for `SETTLE`, a read during which they changed is discarded, and a reload that would
leave no rules at all where some are in force is refused unless a file says `rules: []`.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from bridge.clock import Clock, SystemClock
from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_dir, rule_files
from bridge.errors import RuleProblem, RulesError
from bridge.ticketing.rota import Rota
from bridge.ticketing.rota_loader import empty_rota, load_rota_file, rota_path

log = logging.getLogger(__name__)

FILES_CHANGED = "bridge: the files changed"
"""Who reloads when the watcher or the tick sees the files change."""

SETTLE = timedelta(milliseconds=500)
"""How long changed files must stay unchanged before the watcher (or the tick) reloads them.
Editors and deployment tools write a small file in milliseconds; half a second is far beyond
that and still feels immediate. A writer that pauses longer than this half-way must write
elsewhere and rename (an atomic replace), as most editors and config tools do."""

T = TypeVar("T")
Signature = tuple[tuple[str, int, int, int, int], ...]
"""(name, inode, modification time in ns, status change time in ns, size) of every file read:
what changes when one is edited, or replaced by a rename (a new inode, whatever its times)."""


def files_signature(paths: Callable[[], Sequence[Path]]) -> Signature:
    """The signature of the files `paths` lists now (empty when they are gone)."""
    try:
        found = []
        for path in paths():
            stat = path.stat()
            found.append((path.name, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size))
        return tuple(found)
    except OSError:
        return ()


class LiveFiles(ABC, Generic[T]):
    """A value loaded from files, swapped atomically on reload; a refused reload keeps the last
    good value and remembers why (`last_error`)."""

    what = "files"
    on_reload: Callable[[bool], None] | None = None
    """Told of every reload tried, taken (True) or refused (False): the metrics."""

    def __init__(self, clock: Clock, monotonic: Callable[[], float] = time.monotonic) -> None:
        """Load for the first time; raises RulesError when that fails (bridge refuses to start).
        `monotonic` measures `SETTLE` (tests pass a fake one)."""
        self.clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen = threading.Condition(self._lock)
        self.checks = 0  # times `reload_if_changed` looked at the files
        self.attempts = 0  # reloads tried, taken or refused
        self._signature = self.signature()  # of the files last read (or found changing while read)
        self._settling: tuple[Signature, float] | None = None  # a change seen, and since when
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

    @abstractmethod
    def location(self) -> str:
        """The directory or file read, for a refusal that is about no line of it."""

    def refusal(self, current: T, new: T) -> str | None:
        """Why `new`, valid as it is, must not replace `current` (None: it may)."""
        return None

    @property
    def settling(self) -> bool:
        """A change was seen and is waiting to stay unchanged for `SETTLE`."""
        return self._settling is not None

    def reload(self, actor: str) -> bool:
        """Load the files again (`actor` asked: a person, a signal, or bridge seeing the files
        change); on failure keep the current value and remember the error."""
        with self._lock:
            return self._reload(actor, self.signature())

    def reload_if_changed(self) -> bool | None:
        """Reload when the files changed since the last attempt and then stayed unchanged for
        `SETTLE`: True / False as `reload`, None when nothing changed or the change is too fresh."""
        with self._lock:
            try:
                return self._reload_if_settled()
            finally:
                self.checks += 1
                self._seen.notify_all()

    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until `done()` holds, looking again after every check and every reload tried
        (`checks`, `attempts`); False if it does not within `timeout` seconds. `done` runs with
        the lock held: it may read, never reload."""
        with self._seen:
            return self._seen.wait_for(done, timeout)

    def _reload_if_settled(self) -> bool | None:
        seen = self.signature()
        if seen == self._signature:
            self._settling = None
            return None
        now = self._monotonic()
        if self._settling is None or self._settling[0] != seen:
            self._settling = (seen, now)  # still being written, maybe: look again later
            return None
        if now - self._settling[1] < SETTLE.total_seconds():
            return None
        return self._reload(FILES_CHANGED, seen)

    def _reload(self, actor: str, before: Signature) -> bool:
        """Read the files whose signature is `before` (the lock is held)."""
        # A refused version is not tried again until the files change.
        self._signature, self._settling = before, None
        try:
            value = self.load()
            if self.signature() != before:  # the watcher sees the change and reads it once settled
                raise RulesError([RuleProblem(self.location(), 0, "the files changed while being read")])
            refused = self.refusal(self.current, value)
            if refused is not None:
                raise RulesError([RuleProblem(self.location(), 0, refused)])
        except RulesError as exc:
            self.last_error, self.last_error_at = exc, self.clock.now()
            log.error(
                "%s reload (by %s) refused, keeping version %s:\n%s",
                self.what,
                actor,
                self.version(self.current),
                exc,
            )
            self._attempt(False)
            return False
        self.current = value
        self.loaded_at = self.clock.now()
        self.last_error = self.last_error_at = None
        log.info("%s reloaded (by %s): %s", self.what, actor, self.describe(value))
        self._attempt(True)
        return True

    def _attempt(self, ok: bool) -> None:
        self.attempts += 1
        self._seen.notify_all()
        if self.on_reload is not None:
            self.on_reload(ok)


class LiveRules(LiveFiles[Engine]):
    """The rules directory, as the engine that decides with them."""

    what = "rules"

    def __init__(
        self,
        directory: Path,
        tz: tzinfo | None = None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.tz = tz or ZoneInfo("UTC")
        super().__init__(clock or SystemClock(), monotonic)

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

    def location(self) -> str:
        return str(self.directory)

    def refusal(self, current: Engine, new: Engine) -> str | None:
        """Every rule gone at once is what a file cut short looks like, and it would make every
        alert an incident of the defaults: only `rules: []` in a file says it is meant."""
        if new.rules.rules or not current.rules.rules or new.rules.declared_empty:
            return None
        return (
            f"no rules at all, where {len(current.rules.rules)} are in force: refused, as a file "
            "cut short would be; write `rules: []` to mean it"
        )


class LiveRota(LiveFiles[Rota]):
    """`rota.yaml` of the rules directory. Without the file bridge runs with an empty rota:
    incidents get deadlines but nobody is paged."""

    what = "rota"

    def __init__(
        self,
        rules_dir: Path,
        tz: ZoneInfo,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = rota_path(rules_dir)
        self.tz = tz
        super().__init__(clock or SystemClock(), monotonic)

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

    def location(self) -> str:
        return str(self.path)


class Reloadable(Protocol):
    @property
    def what(self) -> str: ...

    @property
    def settling(self) -> bool: ...

    def reload_if_changed(self) -> bool | None: ...


class FileWatcher:
    """Checks files for changes every `every` in a background thread (BRIDGE_RULES_WATCH), and
    every `SETTLE` (if sooner) while a change waits to settle."""

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
        wait = self.every
        while not self._stop.wait(wait.total_seconds()):
            settling = False
            for live in self.files:
                try:
                    live.reload_if_changed()
                    settling = settling or live.settling
                except Exception:  # a watcher that dies would silently stop reloads
                    log.exception("checking the %s files for changes failed", live.what)
            wait = min(self.every, SETTLE) if settling else self.every

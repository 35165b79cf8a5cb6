"""The rota in force, swapped atomically when `rota.yaml` changes; a bad edit keeps the last good
rota live and is remembered (shown by GET /api/oncall). Without the file bridge runs with an
empty rota: incidents get deadlines but nobody is paged."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bridge.errors import RulesError
from bridge.ticketing.rota_loader import empty_rota, load_rota_file, rota_path

log = logging.getLogger(__name__)


class LiveRota:
    def __init__(self, rules_dir: Path, tz: ZoneInfo) -> None:
        """Load `rules_dir/rota.yaml`; raises RulesError when the very first load fails."""
        self.path = rota_path(rules_dir)
        self.tz = tz
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self.rota = load_rota_file(self.path, tz) if self._stamp is not None else empty_rota(tz)
        self.loaded_at = datetime.now(UTC)
        self.last_error: RulesError | None = None
        self.last_error_at: datetime | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return None
        return info.st_mtime_ns, info.st_size

    def refresh(self) -> bool:
        """Reload if the file changed since the last look (cheap: one stat); True if reloaded."""
        if self._stat() == self._stamp:
            return False
        return self.reload()

    def reload(self) -> bool:
        """Load the file again; on failure keep the current rota and remember the error."""
        with self._lock:
            stamp = self._stat()
            try:
                rota = load_rota_file(self.path, self.tz) if stamp is not None else empty_rota(self.tz)
            except RulesError as exc:
                self._stamp = stamp  # do not retry the same bad file every tick
                self.last_error, self.last_error_at = exc, datetime.now(UTC)
                log.error("rota reload refused, keeping version %s:\n%s", self.rota.version, exc)
                return False
            self._stamp = stamp
            self.rota = rota
            self.loaded_at = datetime.now(UTC)
            self.last_error = self.last_error_at = None
            log.info(
                "rota loaded: version %s, %d people, %d schedules",
                rota.version,
                len(rota.people),
                len(rota.schedules),
            )
            return True

"""The rules in force, swapped atomically on reload; a bad reload keeps the last good rules live."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_dir
from bridge.errors import RulesError

log = logging.getLogger(__name__)


class LiveRules:
    def __init__(self, directory: Path, tz: tzinfo = UTC) -> None:
        """Load `directory`; raises RulesError when the very first load fails (refuse to start)."""
        self.directory = directory
        self.tz = tz
        self._lock = threading.Lock()
        self.engine = Engine(load_rules_dir(directory), tz)
        self.loaded_at = datetime.now(UTC)
        self.last_error: RulesError | None = None
        self.last_error_at: datetime | None = None

    def reload(self) -> bool:
        """Load the directory again; on failure keep the current rules and remember the error."""
        with self._lock:
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

"""Editing watched files in tests, and the time a change takes to settle, on a clock the test moves."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bridge.services.live import SETTLE, LiveFiles


class FakeMonotonic:
    """A monotonic clock for `LiveFiles` that moves only when told to: a change settles when the
    test says so, whatever the machine's load."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def edit(path: Path, text: str) -> None:
    """Write a new version whose modification time surely differs from the last one's."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def reload_settled(live: LiveFiles[Any], ticks: FakeMonotonic) -> bool | None:
    """What the watcher does about a change: see it, let it settle, look again."""
    first = live.reload_if_changed()
    if first is not None:
        return first
    ticks.advance(SETTLE.total_seconds())
    return live.reload_if_changed()

"""gunicorn's start clears the multiprocess metrics directory of what dead processes left, and
keeps the files of running ones (a `bridge worker` that started first and shares the directory)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest


def test_starting_gunicorn_removes_dead_processes_files_and_keeps_running_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    config = importlib.import_module("bridge.web.gunicorn_config")
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True
    )
    dead = int(gone.stdout)
    alive = os.getpid()
    for name in (
        f"counter_{dead}.db",
        f"histogram_{dead}.db",
        f"counter_{alive}.db",
        f"gauge_livesum_{alive}.db",
    ):
        (tmp_path / name).write_bytes(b"\0" * 8)
    config.on_starting(None)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{alive}.db", f"gauge_livesum_{alive}.db"]


def test_starting_gunicorn_creates_a_missing_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    importlib.import_module("bridge.web.gunicorn_config").on_starting(None)
    assert directory.is_dir()

"""`bridge serve` as a real process, as a person starts it: in a working directory, with an
environment, stopped with SIGTERM; and `bridge` commands run beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests

BRIDGE = [sys.executable, "-m", "bridge"]


@dataclass
class Served:
    """A running `bridge serve`: where it answers, and (once stopped) what it printed."""

    url: str
    process: subprocess.Popen[str]
    stdout: str = ""
    stderr: str = ""
    returncode: int | None = field(default=None)


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any BRIDGE_* setting, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return {**env, **settings}


@contextmanager
def serving(cwd: Path, env: dict[str, str], port: int, *extra: str) -> Iterator[Served]:
    """`bridge serve --port PORT` in `cwd`, once it answers /healthz; stopped with SIGTERM after."""
    process = subprocess.Popen(
        [*BRIDGE, "serve", "--port", str(port), *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    served = Served(f"http://127.0.0.1:{port}", process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{served.url}/healthz", timeout=1).ok:
                    break
            except requests.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        served.stdout, served.stderr = process.communicate(timeout=15)
        served.returncode = process.returncode


def run_bridge(
    cwd: Path, env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`bridge ARGS...` as a separate process, its output captured."""
    return subprocess.run(
        [*BRIDGE, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )

"""A worker's mail poll in a process of its own, for the tests that kill it mid-batch:
``python -m tests.support.mail_poller`` with BRIDGE_* settings in the environment polls the mailbox
until it is empty (or the test kills it).

``MAIL_POLLER_PAUSE`` (seconds) slows each mail down, after it is stored and before it is filed:
on a fast machine a poller otherwise takes a whole batch before the test can kill it."""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from bridge.clock import SystemClock
from bridge.services.handoff import DatabaseHandoff
from bridge.services.wiring import Services
from bridge.settings import Settings


def main() -> int:
    services = Services(Settings.from_env(), SystemClock(), DatabaseHandoff())
    intake = services.mail_intake
    assert intake is not None, "BRIDGE_IMAP_URL is not set"
    pause = float(os.environ.get("MAIL_POLLER_PAUSE", "0"))
    if pause > 0:
        store = intake._store

        def slow_store(*args: Any) -> Any:
            stored = store(*args)
            time.sleep(pause)  # the crash window between storing a mail and filing it, widened
            return stored

        intake._store = slow_store  # type: ignore[method-assign]
    try:
        while True:
            polled = intake.poll()
            print(polled, flush=True)
            if polled.fetched == 0:
                return 0
    finally:
        services.close()


if __name__ == "__main__":
    sys.exit(main())

"""A worker's mail poll in a process of its own, for the tests that kill it mid-batch:
``python -m tests.support.mail_poller`` with BRIDGE_* settings in the environment polls the mailbox
until it is empty (or the test kills it)."""

from __future__ import annotations

import sys

from bridge.clock import SystemClock
from bridge.services.handoff import DatabaseHandoff
from bridge.services.wiring import Services
from bridge.settings import Settings


def main() -> int:
    services = Services(Settings.from_env(), SystemClock(), DatabaseHandoff())
    intake = services.mail_intake
    assert intake is not None, "BRIDGE_IMAP_URL is not set"
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

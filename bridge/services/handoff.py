"""How the services wake whoever must act after their commit: the worker that processes stored
deliveries, and the one that sends notifications and write-back. The in-process runner
(`bridge.worker.runner.Wakeup`) and the rq queue (`bridge.integrations.queue.QueueHandoff`) are
the two that wake someone.

The database is the queue either way, so a hand-off that fails loses nothing: what was committed
waits for the next tick (embedded) or the sweeper (production).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Handoff(Protocol):
    def deliveries(self, intake_ids: Sequence[int]) -> bool:
        """Deliveries were stored (or put back to pending): have them processed soon. True when
        handed over now; False when they wait in the database to be found. Never raises."""
        ...

    def work(self) -> None:
        """Something to send or do is queued (notifications, write-back): wake the worker. Never raises."""
        ...


class DatabaseHandoff:
    """Nobody to wake in this process (a CLI command): a running bridge finds the rows itself on its
    next tick."""

    def deliveries(self, intake_ids: Sequence[int]) -> bool:
        return False

    def work(self) -> None:
        return None

"""One round of background work, the same in every process that does it: deliveries still
pending (embedded mode; in production rq jobs take them), due timers, the sweeper (production),
due write-back jobs, a changed rota, due notifications, and due periodic jobs (reconciliation,
whose finds go through at once in embedded mode). Each part claims its rows in the database, so
any number of processes may tick at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.services.dispatch import TimerDispatcher
from bridge.services.periodic import Periodic
from bridge.services.sweeper import Sweeper, Swept
from bridge.services.wiring import Services

TIMER_ROUNDS = 20
"""Rounds of due timers per tick: a timer may ask for its next step at an instant already past
(a backlog, a late tick), so the tick catches up, but bounded so that a timer asking again and
again cannot spin; what is left waits for the next tick."""
BATCH_SIZE = 200
"""Deliveries per batch of the embedded worker."""


@dataclass(frozen=True, slots=True)
class Ticked:
    """What one tick did."""

    deliveries: int = 0
    timers: int = 0
    requeued: int = 0
    processed_here: int = 0
    outbox: int = 0
    notifications: int = 0
    periodic: int = 0

    def __bool__(self) -> bool:
        return any(
            (
                self.deliveries,
                self.timers,
                self.requeued,
                self.processed_here,
                self.outbox,
                self.notifications,
                self.periodic,
            )
        )


class Tick:
    def __init__(
        self,
        services: Services,
        timers: TimerDispatcher,
        periodic: Periodic,
        sweeper: Sweeper | None = None,
        *,
        deliveries: bool,
    ) -> None:
        """`deliveries`: this process processes pending deliveries itself (the embedded default)."""
        self.services = services
        self.timers = timers
        self.periodic = periodic
        self.sweeper = sweeper
        self.deliveries = deliveries

    def run(self) -> Ticked:
        services = self.services
        processed = self._deliveries() if self.deliveries else 0
        fired = self._timers()
        swept = self.sweeper.run() if self.sweeper is not None else Swept()
        outbox = services.outbox.run_due()
        services.rota.reload_if_changed()  # a changed rota.yaml takes effect before messages go out
        notifications = services.notifier.run_due()
        periodic = self.periodic.run_due()
        if periodic and self.deliveries:
            processed += self._deliveries()  # what reconciliation found goes through at once
        return Ticked(processed, fired, swept.requeued, swept.processed_here, outbox, notifications, periodic)

    def _deliveries(self) -> int:
        handled = 0
        while True:
            result = self.services.pipeline.process_pending(BATCH_SIZE)
            handled += result.deliveries
            if not result.progressed:  # a slice of a large delivery is progress: go on
                return handled

    def _timers(self) -> int:
        fired_in_all = 0
        for _ in range(TIMER_ROUNDS):
            fired = self.timers.run_due()
            fired_in_all += fired
            if not fired:
                break
        return fired_in_all

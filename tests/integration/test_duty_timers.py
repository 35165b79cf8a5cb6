"""Incident timers fire once however many workers tick at the same moment (real databases)."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from bridge.db.models import Notification, Timer
from bridge.services.dispatch import TimerDispatcher
from bridge.services.escalation import DutyTimers
from tests.support.duty import Desk, desk

__all__ = ["desk"]


def test_concurrent_workers_fire_an_escalation_step_once(desk: Desk) -> None:
    desk.at("2026-11-24 03:00")
    desk.open(title="Yard cameras offline", client="logistics")
    desk.clock.set(desk.clock.now().replace(minute=15))  # step 2 is due
    workers = []
    for _ in range(4):  # four workers' ticks, each with its own dispatcher as in its own process
        dispatcher = TimerDispatcher(desk.runtime.services.sessions, desk.clock)
        timers = DutyTimers(desk.runtime.services.sessions, desk.clock, desk.runtime.services.duty)
        dispatcher.register_all(timers.handlers())
        workers.append(dispatcher)
    start = threading.Barrier(len(workers))
    fired: list[int] = []

    def tick(worker: TimerDispatcher) -> None:
        start.wait()
        fired.append(worker.run_due())

    threads = [threading.Thread(target=tick, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    with desk.runtime.services.sessions() as session:
        pages = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.person == "morozov")
        )
        next_step = session.scalar(
            select(Timer.due_at).where(Timer.kind == "escalation", Timer.subject == "1")
        )
    assert sum(fired) == 1
    assert pages == 1
    assert next_step == desk.clock.now().replace(minute=45)  # step 2 waits 30 minutes

"""The timer tick: fires due timers (rows of the `timers` table) through a handler per kind.

Every feature that needs something to happen later (the engine's `for:` holds and
`resolve_after`, maintenance releases, and whatever registers next: escalation steps, SLA
deadlines, stale checks) schedules a row with `bridge.db.timers.schedule` and registers a
handler for its kind here. The tick selects due rows of the registered kinds and calls each
handler with the timer's subject. A handler owns its transaction and takes the timer with
`bridge.db.timers.claim` (`FOR UPDATE SKIP LOCKED` on PostgreSQL, then deleted in the
same commit), so with N workers ticking at once each timer fires exactly once, and a worker
that dies mid-way leaves the row to the next tick. `register_simple` does that claiming for
handlers that need no other lock first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db import timers
from bridge.db.failures import classify
from bridge.db.models import Timer

log = logging.getLogger(__name__)


class Fired(StrEnum):
    """What a handler did with a due timer."""

    FIRED = "fired"  # it claimed the timer and did the work
    GONE = "gone"  # nothing to do: another worker fired it, or it was moved later
    BUSY = "busy"  # its subject is locked by someone else right now: try again on the next tick


TimerHandler = Callable[[str, datetime], Fired]
"""`handler(subject, now)`: fire the (kind, subject) timer if it is still due by `now`."""

SimpleHandler = Callable[[Session, str, datetime], None]
"""`handler(session, subject, due_at)`, called in the transaction that claimed the timer."""


class TimerDispatcher:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock
        self._handlers: dict[str, TimerHandler] = {}

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def register(self, kind: str, handler: TimerHandler) -> None:
        """Fire timers of `kind` with `handler`, which claims them itself (see the module doc)."""
        if kind in self._handlers:
            raise ValueError(f"a handler for timer kind {kind!r} is already registered")
        self._handlers[kind] = handler

    def register_all(self, handlers: Mapping[str, TimerHandler]) -> None:
        """Register a handler per kind (what a service's `timer_handlers()` gives)."""
        for kind, handler in handlers.items():
            self.register(kind, handler)

    def register_simple(self, kind: str, handler: SimpleHandler) -> None:
        """Fire timers of `kind` with `handler(session, subject, due_at)`; the dispatcher claims
        the timer in a transaction, calls the handler in it and commits (or rolls both back)."""

        def fire(subject: str, now: datetime) -> Fired:
            with self.sessions() as session, session.begin():
                due = timers.claim(session, kind, subject, now)
                if due is None:
                    return Fired.GONE
                handler(session, subject, due)
            return Fired.FIRED

        self.register(kind, fire)

    def run_due(self, limit: int = 500) -> int:
        """Fire up to `limit` timers due now, earliest first; returns how many fired.

        A timer that firing another one set, already due (a flapping group checked at its due
        time and still flapping until a moment that has also passed), fires in the same call:
        rounds repeat while they fire something."""
        if not self._handlers:
            return 0
        now = self.clock.now()
        fired = 0
        busy: set[str] = set()
        while fired < limit:
            fired_before = fired
            with self.sessions() as session:
                due = session.execute(
                    select(Timer.kind, Timer.subject)
                    .where(Timer.due_at <= now, Timer.kind.in_(sorted(self._handlers)))
                    .order_by(Timer.due_at, Timer.id)
                    .limit(limit - fired)
                ).all()
            for kind, subject in due:
                if subject in busy:
                    continue  # keep one subject's timers in due order: skip the rest of it this call
                try:
                    result = self._handlers[kind](subject, now)
                except Exception as exc:
                    if classify(exc).waits:
                        raise  # the database itself is unwell: the caller backs off and ticks again
                    # Its data or a bug (a DataError included): the other timers fire regardless.
                    log.exception("timer %s %r failed; it stays due and fires on a later tick", kind, subject)
                    busy.add(subject)
                    continue
                if result is Fired.FIRED:
                    fired += 1
                elif result is Fired.BUSY:
                    busy.add(subject)
            if fired == fired_before:
                break
        return fired

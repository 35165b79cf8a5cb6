"""Work for the outside world done outside any transaction: rows claimed with a lease, run, then
settled. The outbox's write-back jobs and the notifications both go this way.

A row is written in the same transaction as the change that wants it. `run_due` claims the due
rows (`FOR UPDATE SKIP LOCKED` and a lease, so several workers never run one at once, and one
that died mid-way leaves the row to be claimed again when its lease runs out), runs each without
holding a transaction, and then settles it: done; or failed, tried again after a backoff; or
parked as failed after `max_attempts`, or at once when the peer refused for good
(`PermanentFailure`). A failing peer therefore never blocks the pipeline or the other rows, and
nothing is dropped silently: a row given up on leaves a timeline entry on its incident.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import Notification, OutboxJob
from bridge.db.queries import claim_due
from bridge.errors import PermanentFailure

log = logging.getLogger(__name__)

Row = TypeVar("Row", OutboxJob, Notification)
Claimed = TypeVar("Claimed")
"""What a claimed row is worked on as: plain values, so that no ORM object outlives its session."""
Done = TypeVar("Done")
"""What running a row gave when it worked."""


def backoff(attempts: int) -> timedelta:
    """30s, 1m, 2m, 4m ... at most 30m between attempts."""
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), timedelta(minutes=30))


@dataclass(frozen=True, slots=True)
class Failed:
    """Why running a row did not work; `permanent` when retrying cannot help."""

    error: str
    permanent: bool = False


class LeasedWork(ABC, Generic[Row, Claimed, Done]):
    """Subclasses say which rows they work on, how long a claim lasts and how many attempts a row
    gets: ``class Outbox(LeasedWork[...], model=OutboxJob, lease=..., max_attempts=10)``."""

    model: type[Row]
    lease: timedelta
    max_attempts: int

    def __init_subclass__(cls, *, model: type[Row], lease: timedelta, max_attempts: int) -> None:
        super().__init_subclass__()
        cls.model, cls.lease, cls.max_attempts = model, lease, max_attempts

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    # -- what each kind of work says ------------------------------------------------------------

    @abstractmethod
    def claimed(self, row: Row) -> Claimed:
        """The values `run` needs, taken from the row while it is claimed."""

    @abstractmethod
    def run(self, work: Claimed) -> Done:
        """Do it; raise PermanentFailure when retrying cannot help, anything else to retry."""

    @abstractmethod
    def succeeded(self, session: Session, row: Row, done: Done, now: datetime) -> None:
        """Mark the row done (in the settling transaction) and record what was done."""

    @abstractmethod
    def gave_up(self, session: Session, row: Row, error: str, now: datetime) -> None:
        """Record on the incident's timeline that the row was given up on."""

    @abstractmethod
    def label(self, row: Row) -> str:
        """The row as the log names it, e.g. "outbox job 12 (zabbix.acknowledge)"."""

    def tried(self, work: Claimed, failed: Failed | None) -> None:
        """Called after each attempt (metrics); nothing by default."""

    # -- the loop -------------------------------------------------------------------------------

    def run_due(self, limit: int = 20) -> int:
        """Run the rows that are due; returns how many were tried."""
        claimed = self._claim(limit)
        for row_id, work in claimed:
            done, failed = self._attempt(work)
            self.tried(work, failed)
            try:
                self._settle(row_id, done, failed)
            except Exception:  # the database failing under us: the lease brings the row back later
                log.exception("%s %d could not be settled", self.model.__tablename__, row_id)
        return len(claimed)

    def _claim(self, limit: int) -> list[tuple[int, Claimed]]:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            return [
                (row.id, self.claimed(row)) for row in claim_due(session, self.model, now, self.lease, limit)
            ]

    def _attempt(self, work: Claimed) -> tuple[Done | None, Failed | None]:
        try:
            return self.run(work), None
        except PermanentFailure as exc:
            return None, Failed(str(exc), permanent=True)
        except Exception as exc:
            return None, Failed(f"{exc.__class__.__name__}: {exc}")

    def _settle(self, row_id: int, done: Done | None, failed: Failed | None) -> None:
        now = self.clock.now()
        with self.sessions() as session, session.begin():
            row = session.get(self.model, row_id, with_for_update=True)
            if row is None:
                return
            row.lease_until = None
            if failed is None:
                assert done is not None
                row.last_error = None
                self.succeeded(session, row, done, now)
                return
            row.last_error = failed.error[:2000]
            if failed.permanent or row.attempts >= self.max_attempts:
                _set_status(row, "failed")
                log.error("%s failed for good: %s", self.label(row), failed.error)
                self.gave_up(session, row, failed.error, now)
                return
            _set_status(row, "pending")
            row.next_attempt_at = now + backoff(row.attempts)
            log.warning(
                "%s attempt %d failed, retrying at %s: %s",
                self.label(row),
                row.attempts,
                row.next_attempt_at.isoformat(),
                failed.error,
            )


def _set_status(row: Row, word: str) -> None:
    """Outbox jobs and notifications each have their own status enum; both say pending, running
    and failed in the same words."""
    row.status = type(row.status)(word)

"""The history a bridge database holds, as the replay and the export read it: what was received
(the intake log), the silences people made, and what was recorded of a period, the "what
actually happened" column of a replay.

Every read goes through a read-only engine: on SQLite it never takes the write lock, so a live
bridge's intake keeps writing meanwhile. Recorded incidents are exact (opened in the period,
with the rule that opened them). Suppressions are counted from each alert's last recorded state,
so an alert that was held back, then opened an incident, counts once, as what it is now; the
replay column counts every held occurrence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import AlertRow, Incident, Intake, SilenceRow
from bridge.dedup.state import Disposition, Silence
from bridge.errors import HistoryUnreadable
from bridge.replay.replayer import IncidentSummary, Summary, suppression_kind
from bridge.replay.shares import ReplaySpec, replay_stored
from bridge.replay.trace import Recorded, stored_deliveries, write_trace
from bridge.services.silences import silence_from_row


def recorded_summary(session: Session, since: datetime | None, until: datetime | None) -> Summary:
    summary = Summary("recorded", exact_suppressed=False)
    intake = select(
        func.count(),
        func.coalesce(func.sum(Intake.alert_count), 0),
        func.min(Intake.received_at),
        func.max(Intake.received_at),
    )
    if since is not None:
        intake = intake.where(Intake.received_at >= since)
    if until is not None:
        intake = intake.where(Intake.received_at < until)
    summary.deliveries, summary.alerts, summary.first_at, summary.last_at = session.execute(intake).one()
    incidents = select(Incident).where(Incident.rule.is_not(None)).order_by(Incident.number)
    if since is not None:
        incidents = incidents.where(Incident.opened_at >= since)
    if until is not None:
        incidents = incidents.where(Incident.opened_at < until)
    for row in session.scalars(incidents):
        summary.incidents.append(
            IncidentSummary(
                number=row.number,
                group_key=row.group_key or "",
                rule=row.rule or "",
                priority=row.priority,
                title=row.title,
                first_alert_at=row.first_alert_at or row.opened_at,
                opened_at=row.opened_at,
                resolved_at=row.resolved_at,
                reopen_count=row.reopen_count,
                alerts=row.alert_count,
                flapping=row.flapping,
            )
        )
        summary.rule(row.rule or "").incidents += 1
    alerts = select(AlertRow.rule, AlertRow.disposition, AlertRow.reason, AlertRow.suppressed_by)
    alerts = alerts.where(AlertRow.disposition != Disposition.INCIDENT)
    if since is not None:
        alerts = alerts.where(AlertRow.last_event_at >= since)
    if until is not None:
        alerts = alerts.where(AlertRow.last_event_at < until)
    for rule, disposition, reason, suppressed_by in session.execute(alerts):
        kind = suppression_kind(Disposition(disposition), reason or "", suppressed_by)
        if kind is not None:
            summary.suppressed[kind] += 1
            summary.rule(rule).suppressed += 1
    return summary


class StoredHistory:
    """The history in the database at `database_url`; HistoryUnreadable when it is not bridge's."""

    def __init__(self, database_url: str, timeout: float) -> None:
        self.database_url = database_url
        self.timeout = timeout

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        engine = create_db_engine(self.database_url, timeout=self.timeout, read_only=True)
        try:
            with make_session_factory(engine)() as session:
                yield session
        except SQLAlchemyError as exc:
            raise _unreadable(exc) from None
        finally:
            engine.dispose()

    def count(self, since: datetime | None, until: datetime) -> int:
        """Deliveries received in [since, until)."""
        query = select(func.count()).select_from(Intake).where(Intake.received_at < until)
        if since is not None:
            query = query.where(Intake.received_at >= since)
        with self._reading() as session:
            return session.scalar(query) or 0

    def silences(self) -> tuple[Silence, ...]:
        """Every silence people made, for a replay to hold back what they held back."""
        with self._reading() as session:
            return tuple(silence_from_row(row) for row in session.scalars(select(SilenceRow)))

    def recorded(self, since: datetime | None, until: datetime | None) -> Summary:
        """What the database recorded of the period."""
        with self._reading() as session:
            return recorded_summary(session, since, until)

    def deliveries(self, since: datetime | None, until: datetime | None) -> Iterator[Recorded]:
        """The deliveries received in [since, until), in arrival order, read in pages."""
        with self._reading() as session:
            yield from stored_deliveries(session, since, until)

    def export(self, since: datetime | None, until: datetime | None, out: IO[str]) -> int:
        """Write the deliveries received in [since, until) as a trace; returns how many."""
        with self._reading() as session:
            return write_trace(stored_deliveries(session, since, until), out)

    def replay(
        self,
        specs: Sequence[ReplaySpec],
        since: datetime | None,
        until: datetime,
        shares: int,
        progress: Callable[[int], None] | None = None,
        *,
        read_aside: bool = False,
    ) -> list[Summary]:
        """Replay [since, until) through each rule set, on `shares` processes (one more that
        reads and parses for a single share with `read_aside`)."""
        try:
            return replay_stored(
                self.database_url,
                specs,
                since,
                until,
                until,
                shares=shares,
                progress=progress,
                db_timeout=self.timeout,
                read_aside=read_aside,
            )
        except SQLAlchemyError as exc:
            raise _unreadable(exc) from None


def _unreadable(exc: SQLAlchemyError) -> HistoryUnreadable:
    """Which database error, and what to check, instead of a traceback."""
    cause = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return HistoryUnreadable(
        f"cannot read the history from BRIDGE_DATABASE_URL ({exc.__class__.__name__}: {cause}); "
        "is it bridge's database, upgraded (`bridge db upgrade`)?"
    )

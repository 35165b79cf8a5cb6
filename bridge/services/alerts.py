"""Alerts for people: the alerts bridge knows and the decision on each, with its reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.db.models import AlertRow
from bridge.db.queries import Page, Paging, contains, paged


@dataclass(frozen=True, slots=True)
class AlertQuery:
    status: Sequence[str] = ()
    decision: Sequence[str] = ()
    incident: int | None = None
    q: str | None = None


class AlertService:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def list(self, query: AlertQuery, paging: Paging) -> Page[AlertRow]:
        """Alerts matching `query`, the most recently changed first, and how many match in all."""
        statement = select(AlertRow)
        if query.status:
            statement = statement.where(AlertRow.status.in_(query.status))
        if query.decision:
            statement = statement.where(AlertRow.disposition.in_(query.decision))
        if query.incident is not None:
            statement = statement.where(AlertRow.incident_number == query.incident)
        if query.q:
            statement = statement.where(contains(query.q, AlertRow.name, AlertRow.host))
        order = [AlertRow.last_event_at.desc(), AlertRow.id.desc()]
        with self.sessions() as session:
            return paged(session, statement, order, paging)

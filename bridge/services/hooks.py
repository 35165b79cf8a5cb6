"""What ticketing tells the rest of bridge when an incident changes (integrations listen).

Called inside the transaction that makes the change, so that whatever a hook records (an
outbox job) is committed with the change or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from bridge.db.models import Incident
from bridge.ticketing.lifecycle import IncidentAction


class IncidentHooks(Protocol):
    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        """A new incident (from the rules, or opened by hand), before its first commit."""
        ...

    def incident_changed(
        self,
        session: Session,
        incident: Incident,
        action: IncidentAction,
        actor: str,
        comment: str,
        now: datetime,
        origin: str | None,
    ) -> None:
        """`origin` names the source system the change came from (None: made in bridge)."""
        ...


class NoHooks:
    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        return None

    def incident_changed(
        self,
        session: Session,
        incident: Incident,
        action: IncidentAction,
        actor: str,
        comment: str,
        now: datetime,
        origin: str | None,
    ) -> None:
        return None


class HookChain:
    """Several listeners, called in order (write-back first, then the rota's duty)."""

    def __init__(self, *hooks: IncidentHooks) -> None:
        self.hooks = hooks

    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        for hook in self.hooks:
            hook.incident_opened(session, incident, now)

    def incident_changed(
        self,
        session: Session,
        incident: Incident,
        action: IncidentAction,
        actor: str,
        comment: str,
        now: datetime,
        origin: str | None,
    ) -> None:
        for hook in self.hooks:
            hook.incident_changed(session, incident, action, actor, comment, now, origin)

"""What ticketing tells the rest of bridge when an incident changes (integrations listen).

Called inside the transaction that makes the change, so that whatever a hook records (an
outbox job) is committed with the change or not at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from bridge.ticketing.lifecycle import IncidentAction
from bridge.ticketing.models import Incident


class IncidentHooks(Protocol):
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

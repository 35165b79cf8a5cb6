"""What the incident services tell the rest of bridge when an incident opens or changes: the duty
(owner, escalation, SLA clocks, messages) and the write-back to the sources listen.

Hooks are called inside the transaction that makes the change, so that whatever they record (a
timer, a notification, an outbox job) is committed with the change or not at all; a hook may
refuse a change by raising.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from bridge.db.models import AlertRow, Incident
from bridge.ticketing.lifecycle import SYSTEM_ACTOR, IncidentAction


@dataclass(frozen=True, slots=True)
class IncidentChange:
    """One change to an incident, as the hooks hear of it."""

    incident: Incident
    action: IncidentAction
    actor: str
    at: datetime
    comment: str = ""
    origin: str | None = None
    """The source system the change came from ("zabbix"); None when it was made in bridge."""

    @property
    def by_a_person(self) -> bool:
        """Someone did it, not bridge's own rules or timers."""
        return self.actor != SYSTEM_ACTOR


class IncidentHooks(Protocol):
    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        """A new incident (from the rules, or opened by hand), before its first commit."""
        ...

    def incident_changed(self, session: Session, change: IncidentChange) -> None:
        """An action on an incident, after its fields changed, before the commit."""
        ...

    def alert_attached(
        self, session: Session, incident: Incident, alert: AlertRow, now: datetime, late: bool
    ) -> None:
        """An alert joined the incident for the first time; `late` when that is not in the answer
        to its own delivery (a hold expired, reconciliation found it, the worker decided it)."""
        ...


class NoHooks:
    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        return None

    def incident_changed(self, session: Session, change: IncidentChange) -> None:
        return None

    def alert_attached(
        self, session: Session, incident: Incident, alert: AlertRow, now: datetime, late: bool
    ) -> None:
        return None


class HookChain:
    """Several listeners, called in order (write-back first, then the rota's duty)."""

    def __init__(self, *hooks: IncidentHooks) -> None:
        self.hooks = hooks

    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        for hook in self.hooks:
            hook.incident_opened(session, incident, now)

    def incident_changed(self, session: Session, change: IncidentChange) -> None:
        for hook in self.hooks:
            hook.incident_changed(session, change)

    def alert_attached(
        self, session: Session, incident: Incident, alert: AlertRow, now: datetime, late: bool
    ) -> None:
        for hook in self.hooks:
            hook.alert_attached(session, incident, alert, now, late)

"""Incident services for people: list, show, and the operator actions. Each takes a session
the caller owns (and commits); actions lock the incident row so concurrent changes serialize."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.errors import Conflict, NotFound
from bridge.ticketing.hooks import IncidentHooks, NoHooks
from bridge.ticketing.lifecycle import ACTIVE_STATUSES, IncidentAction, IncidentStatus, next_status
from bridge.ticketing.models import (
    AlertGroup,
    AlertmanagerSilence,
    AlertRow,
    Incident,
    IncidentAlert,
    TimelineEntry,
)
from bridge.ticketing.queries import contains, paged


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    status: Sequence[str] = ()
    priority: Sequence[str] = ()
    q: str | None = None
    limit: int = 50
    offset: int = 0
    client: Sequence[str] = ()


def list_incidents(session: Session, query: IncidentQuery) -> tuple[list[Incident], int]:
    """Incidents matching `query`, newest first, and how many match in all."""
    statement = select(Incident)
    if query.status:
        statement = statement.where(Incident.status.in_(query.status))
    if query.priority:
        statement = statement.where(Incident.priority.in_(query.priority))
    if query.q:
        statement = statement.where(contains(query.q, Incident.title, Incident.host))
    if query.client:
        statement = statement.where(Incident.client.in_(query.client))
    return paged(session, statement, [Incident.number.desc()], query.limit, query.offset)


def get_incident(session: Session, number: int, *, lock: bool = False) -> Incident:
    statement = select(Incident).where(Incident.number == number)
    if lock:
        statement = statement.with_for_update()
    incident = session.scalars(statement).first()
    if incident is None:
        raise NotFound(f"no incident {number}")
    return incident


def timeline(session: Session, number: int) -> list[TimelineEntry]:
    query = select(TimelineEntry).where(TimelineEntry.incident_number == number).order_by(TimelineEntry.id)
    return list(session.scalars(query))


def alerts_of(session: Session, number: int, role: str = "member") -> list[AlertRow]:
    """Every alert that was ever part of the incident (their current state); with role "related",
    the alerts held back because of it (inhibited)."""
    query = (
        select(AlertRow)
        .join(IncidentAlert, IncidentAlert.fingerprint == AlertRow.fingerprint)
        .where(IncidentAlert.incident_number == number, IncidentAlert.role == role)
        .order_by(IncidentAlert.first_attached_at, AlertRow.id)
    )
    return list(session.scalars(query))


def silences_of(session: Session, number: int) -> list[AlertmanagerSilence]:
    """The Alertmanager silences bridge made for the incident, expired ones too."""
    query = select(AlertmanagerSilence).where(AlertmanagerSilence.incident_number == number)
    return list(session.scalars(query.order_by(AlertmanagerSilence.id)))


def act(
    session: Session,
    number: int,
    action: IncidentAction,
    actor: str,
    now: datetime,
    comment: str = "",
    hooks: IncidentHooks | None = None,
    origin: str | None = None,
) -> Incident:
    """Apply an action (ack, resolve, close, reopen, comment) and record it; `hooks` hear of it."""
    comment = comment.strip()
    if action is IncidentAction.COMMENT and not comment:
        raise Conflict("a comment needs text")
    incident = get_incident(session, number, lock=True)
    status = next_status(number, IncidentStatus(incident.status), action)
    if action is IncidentAction.REOPEN:
        _reopen(session, incident)
    incident.status = status.value
    if action is IncidentAction.ACK:
        incident.acknowledged_at = now
    elif action is IncidentAction.RESOLVE:
        incident.resolved_at = now
    elif action is IncidentAction.CLOSE:
        incident.closed_at = now
    elif action is IncidentAction.REOPEN:
        incident.resolved_at = incident.closed_at = incident.acknowledged_at = None
        incident.reopen_count += 1
    incident.updated_at = now
    verb = {
        IncidentAction.ACK: "acknowledged",
        IncidentAction.RESOLVE: "resolved",
        IncidentAction.CLOSE: "closed",
        IncidentAction.REOPEN: "reopened",
        IncidentAction.COMMENT: "comment",
    }[action]
    text = (
        comment
        if action is IncidentAction.COMMENT
        else f"{verb} by {actor}" + (f": {comment}" if comment else "")
    )
    session.add(TimelineEntry(incident_number=number, at=now, actor=actor, kind=verb, text=text))
    (hooks or NoHooks()).incident_changed(session, incident, action, actor, comment, now, origin)
    return incident


def _reopen(session: Session, incident: Incident) -> None:
    """Reopening must not make a second active incident for the group; it becomes the group's current."""
    if incident.group_key is None:
        return
    other = session.scalar(
        select(Incident.number).where(
            Incident.group_key == incident.group_key,
            Incident.status.in_(ACTIVE_STATUSES),
            Incident.number != incident.number,
        )
    )
    if other is not None:
        raise Conflict(f"incident {other} is already active for the same alerts; reopen is not possible")
    group = session.get(AlertGroup, incident.group_key, with_for_update=True)
    if group is not None:
        group.incident_number = incident.number

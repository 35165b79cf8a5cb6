"""Incident services for people: list, show, and the operator actions. Each takes a session
the caller owns (and commits); actions lock the incident row so concurrent changes serialize."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.db.models import AlertGroup, AlertmanagerSilence, AlertRow, Incident, IncidentAlert, TimelineEntry
from bridge.db.queries import contains, paged
from bridge.errors import Conflict, NotFound, PayloadError
from bridge.priority import Priority
from bridge.services.hooks import IncidentHooks, NoHooks
from bridge.services.state_store import IncidentNumbers
from bridge.ticketing.lifecycle import (
    ACTIVE_STATUSES,
    IncidentAction,
    IncidentStatus,
    IncidentType,
    next_status,
)

LINES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    status: Sequence[str] = ()
    priority: Sequence[str] = ()
    q: str | None = None
    limit: int = 50
    offset: int = 0
    client: Sequence[str] = ()
    assignee: Sequence[str] = ()
    type: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Change:
    """What `assign` and `priority` change: the responsible person, the line, the priority."""

    assignee: str | None = None
    line: str | None = None
    priority: Priority | None = None


@dataclass(frozen=True, slots=True)
class NewIncident:
    """An incident opened by hand: a phone call, a mail, a request."""

    title: str
    priority: Priority = Priority.P3
    type: IncidentType = IncidentType.INCIDENT
    client: str | None = None
    description: str = ""
    reporter: str | None = None
    route: str | None = None
    line: str = "L1"


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
    if query.assignee:
        statement = statement.where(Incident.assignee.in_(query.assignee))
    if query.type:
        statement = statement.where(Incident.type.in_(query.type))
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


def open_incident(
    session: Session, new: NewIncident, actor: str, now: datetime, hooks: IncidentHooks | None = None
) -> Incident:
    """Open an incident by hand; it goes through the same assignment, SLA and escalation."""
    title = new.title.strip()
    if not title:
        raise PayloadError("title", "an incident needs a title")
    if new.line not in LINES:
        raise PayloadError("line", f"one of {', '.join(LINES)}")
    incident = Incident(
        number=IncidentNumbers(session).next(),
        title=title[:500],
        status=IncidentStatus.OPEN.value,
        priority=new.priority.value,
        source="manual",
        alert_count=0,
        occurrence_count=0,
        opened_at=now,
        reopen_count=0,
        updated_at=now,
        worked_at=now,
        route=new.route,
        client=new.client,
        flapping=False,
        type=new.type.value,
        description=new.description.strip(),
        reporter=new.reporter,
        line=new.line,
        escalation_round=0,
        return_count=0,
    )
    session.add(incident)
    by = f" for {new.reporter}" if new.reporter else ""
    text = f"opened {incident.priority} {new.type.value.replace('_', ' ')} by {actor}{by}"
    session.add(TimelineEntry(incident_number=incident.number, at=now, actor=actor, kind="opened", text=text))
    (hooks or NoHooks()).incident_opened(session, incident, now)
    return incident


VERBS = {
    IncidentAction.ACK: "acknowledged",
    IncidentAction.RESOLVE: "resolved",
    IncidentAction.CLOSE: "closed",
    IncidentAction.REJECT: "rejected",
    IncidentAction.REOPEN: "reopened",
    IncidentAction.ESCALATE: "escalated",
    IncidentAction.ASSIGN: "assigned",
    IncidentAction.PRIORITY: "priority",
    IncidentAction.COMMENT: "comment",
    IncidentAction.CANCEL: "cancelled",
}


def act(
    session: Session,
    number: int,
    action: IncidentAction,
    actor: str,
    now: datetime,
    comment: str = "",
    hooks: IncidentHooks | None = None,
    origin: str | None = None,
    change: Change | None = None,
) -> Incident:
    """Apply an action and record it; `hooks` hear of it (and may refuse it by raising)."""
    comment = comment.strip()
    change = change or Change()
    if action is IncidentAction.COMMENT and not comment:
        raise Conflict("a comment needs text")
    if action is IncidentAction.ASSIGN and change.assignee is None and change.line is None:
        raise PayloadError("to", "assign needs `to` (a person's handle) and/or `line` (L1, L2, L3)")
    if action is IncidentAction.PRIORITY and change.priority is None:
        raise PayloadError("priority", "needs the new priority, P1..P5")
    if change.line is not None and change.line not in LINES:
        raise PayloadError("line", f"one of {', '.join(LINES)}")
    incident = get_incident(session, number, lock=True)
    current = IncidentStatus(incident.status)
    status = next_status(number, current, action)
    if current is IncidentStatus.STALE:  # any update clears stale
        if status is IncidentStatus.STALE:
            status = IncidentStatus(incident.stale_from or IncidentStatus.OPEN.value)
        incident.stale_from = None
        session.add(
            TimelineEntry(
                incident_number=number,
                at=now,
                actor=actor,
                kind="unstale",
                text=f"no longer stale ({action})",
            )
        )
    if action in (IncidentAction.REOPEN, IncidentAction.REJECT):
        _reopen(session, incident)
    incident.status = status.value
    said = f": {comment}" if comment else ""
    text = f"{VERBS[action]} by {actor}{said}"
    if action is IncidentAction.ACK:
        incident.acknowledged_at = incident.acknowledged_at or now
    elif action is IncidentAction.RESOLVE:
        incident.resolved_at = now
    elif action in (IncidentAction.CLOSE, IncidentAction.CANCEL):
        incident.closed_at = now
    elif action in (IncidentAction.REOPEN, IncidentAction.REJECT):
        incident.resolved_at = incident.closed_at = None
        if action is IncidentAction.REOPEN:
            incident.acknowledged_at = None
            incident.reopen_count += 1
        else:
            incident.return_count += 1
            text = f"resolution rejected by {actor} (return {incident.return_count}){said}"
    elif action is IncidentAction.ASSIGN:
        parts = []
        if change.assignee is not None and change.assignee != incident.assignee:
            parts.append(f"responsible {incident.assignee or 'nobody'} -> {change.assignee}")
            incident.assignee = change.assignee
        if change.line is not None and change.line != incident.line:
            parts.append(f"line {incident.line} -> {change.line}")
            incident.line = change.line
        if not parts:
            raise Conflict(f"incident {number} already is so assigned")
        text = f"{', '.join(parts)} by {actor}{said}"
    elif action is IncidentAction.PRIORITY:
        assert change.priority is not None
        if change.priority.value == incident.priority:
            raise Conflict(f"incident {number} already is {incident.priority}")
        text = f"priority {incident.priority} -> {change.priority} by {actor}{said}"
        incident.priority = change.priority.value
    elif action is IncidentAction.COMMENT:
        text = comment
    incident.updated_at = now
    session.add(TimelineEntry(incident_number=number, at=now, actor=actor, kind=VERBS[action], text=text))
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

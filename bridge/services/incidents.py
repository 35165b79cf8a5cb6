"""Incidents for people: list, show, open by hand, and every action on one (acknowledge, comment,
resolve, close, reject, reopen, escalate, reassign, change priority, cancel).

Each call opens its own session and commits; an action locks the incident row, so concurrent
changes serialize. The person acting is a parameter (`actor`): it is what the timeline shows. The
hooks (ownership, escalation, SLA, write-back) hear of every change inside its transaction, and
after the commit the worker is woken to send what they queued.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import (
    AlertGroup,
    AlertmanagerSilence,
    AlertRow,
    Incident,
    IncidentAlert,
    Notification,
    TimelineEntry,
)
from bridge.db.queries import Page, Paging, can_exist, contains, paged
from bridge.db.timeline import add_entry
from bridge.errors import Conflict, InvalidTransition, NotFound, PayloadError
from bridge.priority import SUPPORT_LINES, Priority
from bridge.services.handoff import Handoff
from bridge.services.hooks import IncidentChange, IncidentHooks
from bridge.services.state_store import IncidentNumbers
from bridge.ticketing.lifecycle import (
    ACTIVE_STATUSES,
    VERBS,
    Change,
    IncidentAction,
    IncidentStatus,
    IncidentType,
    WorkFields,
    act,
    check_request,
)

NOTIFICATIONS_SHOWN = 500
"""The latest notifications an incident's detail lists."""


@dataclass(frozen=True, slots=True)
class IncidentQuery:
    status: Sequence[str] = ()
    priority: Sequence[str] = ()
    q: str | None = None
    client: Sequence[str] = ()
    assignee: Sequence[str] = ()
    type: Sequence[str] = ()
    only_client: str | None = None  # a viewer's client: nothing else is listed


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


@dataclass(frozen=True, slots=True)
class IncidentDetail:
    """One incident with everything shown about it: the API, the page and the CLI show this."""

    incident: Incident
    alerts: list[AlertRow]
    related: list[AlertRow]  # alerts held back because of it (inhibited)
    timeline: list[TimelineEntry]
    silences: list[AlertmanagerSilence]
    notifications: list[Notification]  # oldest first


class IncidentService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        hooks: Callable[[], IncidentHooks],
        handoff: Handoff,
        clients: Callable[[], Collection[str]] = tuple,
    ) -> None:
        """`hooks` gives the hooks when a change needs them: reading incidents never loads the
        rota. `clients` gives the clients the rota knows, which an incident opened by hand must
        name (none known: any client is taken)."""
        self.sessions = sessions
        self.clock = clock
        self.hooks = hooks
        self.handoff = handoff
        self.clients = clients

    # -- reading --------------------------------------------------------------------------------

    def list(self, query: IncidentQuery, paging: Paging) -> Page[Incident]:
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
        if query.only_client is not None:
            statement = statement.where(Incident.client == query.only_client)
        with self.sessions() as session:
            return paged(session, statement, [Incident.number.desc()], paging)

    def detail(self, number: int, only_client: str | None = None) -> IncidentDetail:
        """The incident with its alerts, timeline, silences and notifications; NotFound if none
        (or, with `only_client`, if it is another client's)."""
        with self.sessions() as session:
            incident = get_incident(session, number, only_client=only_client)
            notifications = session.scalars(
                select(Notification)
                .where(Notification.incident_number == number)
                .order_by(Notification.id.desc())
                .limit(NOTIFICATIONS_SHOWN)
            )
            return IncidentDetail(
                incident=incident,
                alerts=alerts_of(session, number),
                related=alerts_of(session, number, role="related"),
                timeline=list(
                    session.scalars(
                        select(TimelineEntry)
                        .where(TimelineEntry.incident_number == number)
                        .order_by(TimelineEntry.id)
                    )
                ),
                silences=list(
                    session.scalars(
                        select(AlertmanagerSilence)
                        .where(AlertmanagerSilence.incident_number == number)
                        .order_by(AlertmanagerSilence.id)
                    )
                ),
                notifications=list(reversed(list(notifications))),
            )

    # -- changing -------------------------------------------------------------------------------

    def open(self, new: NewIncident, actor: str) -> Incident:
        """Open an incident by hand; it goes through the same assignment, SLA and escalation.
        PayloadError for a client the rota does not know (a typo would lose the client's
        engineer, calendar and SLA without a word)."""
        known = sorted(self.clients())
        if new.client is not None and known and new.client not in known:
            raise PayloadError("client", f"unknown client {new.client!r}; one of {', '.join(known)}")
        with self.sessions() as session, session.begin():
            incident = open_incident(session, new, actor, self.clock.now(), self.hooks())
            session.flush()
        self.handoff.work()  # the registration message goes out soon
        return incident

    def act(
        self,
        number: int,
        action: IncidentAction,
        actor: str,
        comment: str = "",
        change: Change | None = None,
        only_client: str | None = None,
    ) -> Incident:
        """Apply `action` by `actor`; InvalidTransition, Conflict or PayloadError when it cannot be,
        NotFound when there is no such incident (or, with `only_client`, it is another client's)."""
        with self.sessions() as session, session.begin():
            get_incident(session, number, lock=True, only_client=only_client)
            incident = act_on(session, number, action, actor, self.clock.now(), self.hooks(), comment, change)
        self.handoff.work()  # the notifications and write-back it queued go out soon
        return incident

    def retype(
        self,
        number: int,
        kind: IncidentType,
        actor: str,
        comment: str = "",
        only_client: str | None = None,
    ) -> Incident:
        """Make an incident a service or change request (or back): a person classifies what a
        phone call or a monitoring alert turned out to be. Conflict when it already is one."""
        now = self.clock.now()
        comment = comment.strip()
        with self.sessions() as session, session.begin():
            incident = get_incident(session, number, lock=True, only_client=only_client)
            if incident.status.final:
                raise InvalidTransition(number, incident.status.value, "change the type of")
            if incident.type is kind:
                raise Conflict(f"incident {number} already is a {kind.value.replace('_', ' ')}")
            said = f": {comment}" if comment else ""
            before = incident.type.value.replace("_", " ")
            text = f"type {before} -> {kind.value.replace('_', ' ')} by {actor}{said}"
            incident.type = kind
            incident.updated_at = now
            add_entry(session, number, now, "type", text, actor=actor)
        return incident


# -- inside a transaction (the service's own, or the pipeline's) --------------------------------


def get_incident(
    session: Session, number: int, *, lock: bool = False, only_client: str | None = None
) -> Incident:
    """The incident; NotFound when there is none, or when `only_client` (a viewer's) is not its
    client: the same answer, so a viewer cannot learn that another client's incident exists."""
    if not can_exist(number):  # the database would refuse to compare with it
        raise NotFound(f"no incident {number}")
    statement = select(Incident).where(Incident.number == number)
    if lock:
        statement = statement.with_for_update()
    incident = session.scalars(statement).first()
    if incident is None or (only_client is not None and incident.client != only_client):
        raise NotFound(f"no incident {number}")
    return incident


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


def open_incident(
    session: Session, new: NewIncident, actor: str, now: datetime, hooks: IncidentHooks
) -> Incident:
    """Add an incident opened by hand to the caller's transaction."""
    title = new.title.strip()
    if not title:
        raise PayloadError("title", "an incident needs a title")
    if new.line not in SUPPORT_LINES:
        raise PayloadError("line", f"one of {', '.join(SUPPORT_LINES)}")
    for name, value, longest in (
        ("client", new.client, 200),
        ("reporter", new.reporter, 200),
        ("route", new.route, 100),
    ):
        if value is not None and len(value) > longest:  # the column's length, on every database
            raise PayloadError(name, f"at most {longest} characters")
    incident = Incident(
        number=IncidentNumbers(session).next(),
        title=title[:500],
        status=IncidentStatus.OPEN,
        priority=new.priority,
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
        type=new.type,
        description=new.description.strip(),
        reporter=new.reporter,
        line=new.line,
        escalation_round=0,
        return_count=0,
    )
    session.add(incident)
    by = f" for {new.reporter}" if new.reporter else ""
    text = f"opened {incident.priority} {new.type.value.replace('_', ' ')} by {actor}{by}"
    add_entry(session, incident.number, now, "opened", text, actor=actor)
    hooks.incident_opened(session, incident, now)
    return incident


def act_on(
    session: Session,
    number: int,
    action: IncidentAction,
    actor: str,
    now: datetime,
    hooks: IncidentHooks,
    comment: str = "",
    change: Change | None = None,
    via: str | None = None,
) -> Incident:
    """Apply an action in the caller's transaction and record it (`via`: the channel the person
    acted by, when not the console or the API); the hooks hear of it (and may refuse it by
    raising)."""
    comment = comment.strip()
    change = change or Change()
    check_request(action, comment, change)
    incident = get_incident(session, number, lock=True)
    acted = act(number, work_fields(incident), action, actor, now, comment, change)
    if acted.unstale is not None:
        add_entry(session, number, now, "unstale", acted.unstale, actor=actor, via=via)
    if action in (IncidentAction.REOPEN, IncidentAction.REJECT):
        _become_the_groups_incident(session, incident)
    set_work_fields(incident, acted.fields)
    incident.updated_at = now
    add_entry(session, number, now, VERBS[action], acted.text, actor=actor, via=via)
    hooks.incident_changed(session, IncidentChange(incident, action, actor, now, comment))
    return incident


def work_fields(incident: Incident) -> WorkFields:
    """The fields of a stored incident that actions change."""
    return WorkFields(
        status=incident.status,
        stale_from=incident.stale_from,
        acknowledged_at=incident.acknowledged_at,
        resolved_at=incident.resolved_at,
        closed_at=incident.closed_at,
        reopen_count=incident.reopen_count,
        return_count=incident.return_count,
        assignee=incident.assignee,
        line=incident.line,
        priority=incident.priority,
    )


def set_work_fields(incident: Incident, fields: WorkFields) -> None:
    incident.status = fields.status
    incident.stale_from = fields.stale_from
    incident.acknowledged_at = fields.acknowledged_at
    incident.resolved_at = fields.resolved_at
    incident.closed_at = fields.closed_at
    incident.reopen_count = fields.reopen_count
    incident.return_count = fields.return_count
    incident.assignee = fields.assignee
    incident.line = fields.line
    incident.priority = fields.priority


def _become_the_groups_incident(session: Session, incident: Incident) -> None:
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

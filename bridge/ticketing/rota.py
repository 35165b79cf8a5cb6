"""The rota as typed values, and the pure questions bridge asks of it. No I/O, no clock.

- `Rota.responsible_for(client, at)`: who owns an incident that opens at `at` (business hours:
  the client's assigned engineer; otherwise whoever the `responsible` list finds on duty).
- `Rota.targets(step, ...)`: whom one escalation step pages, each with why.
- `EscalationPolicy.after(step, round)`: which step comes next, or None when the policy is done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bridge.priority import Priority
from bridge.schedule.calendar import ServiceCalendar
from bridge.schedule.rotation import OnDuty, Override, Schedule, who_is_on_duty
from bridge.ticketing.contacts import ContactBook
from bridge.ticketing.report_settings import Contact, ReportSettings
from bridge.timeutil import format_duration


class Role(StrEnum):
    OPERATOR = "operator"  # 24/7 operators (L1), on nights
    ENGINEER = "engineer"
    TEAM_LEAD = "team_lead"
    HEAD_OF_IT = "head_of_it"


ROLE_NAMES = {
    Role.OPERATOR: "operator",
    Role.ENGINEER: "engineer",
    Role.TEAM_LEAD: "team lead",
    Role.HEAD_OF_IT: "head of IT",
}


class Line(StrEnum):
    """Support lines: L1 solves simple cases and classifies, L2 engineers, L3 developers."""

    L1 = "L1"
    L2 = "L2"
    L3 = "L3"


class TargetKind(StrEnum):
    RESPONSIBLE = "responsible"  # the incident's current responsible person
    ASSIGNED_ENGINEER = "assigned_engineer"  # the client's assigned engineer
    SCHEDULE = "schedule"  # whoever is on duty in a schedule
    PERSON = "person"
    TEAM = "team"  # every member of a team
    ROLE = "role"  # everyone with a role (team_lead, head_of_it)


@dataclass(frozen=True, slots=True)
class Person:
    handle: str
    name: str
    role: Role
    email: str | None = None
    telegram: str | None = None  # Telegram chat id
    webhook: str | None = None  # a URL bridge POSTs JSON messages to
    line: Line | None = None
    telegram_id: int | None = None  # the Telegram account (user id) whose button presses act as this person


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    members: tuple[str, ...]
    lead: str | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """Someone (or several) an escalation step or the `responsible` list points at."""

    kind: TargetKind
    name: str = ""  # the schedule, person, team or role named

    def __str__(self) -> str:
        return self.kind.value if not self.name else f"{self.kind.value} {self.name}"


@dataclass(frozen=True, slots=True)
class Step:
    targets: tuple[Target, ...]
    wait: timedelta  # before the next step


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """Ordered steps, the whole run `repeat` times; `ack_timeout` re-pages a stalled acknowledgement."""

    name: str
    steps: tuple[Step, ...]
    repeat: int = 1
    ack_timeout: timedelta | None = None

    def after(self, step: int, round_: int) -> tuple[int, int] | None:
        """The (step, round) after `step` of round `round_` (0-based), or None when all is done."""
        if step + 1 < len(self.steps):
            return step + 1, round_
        if round_ + 1 < self.repeat:
            return 0, round_ + 1
        return None


@dataclass(frozen=True, slots=True)
class SlaTime:
    """A target: a service time, or a number of business days of the calendar."""

    service: timedelta = timedelta(0)
    business_days: int = 0

    def in_calendar(self, calendar: ServiceCalendar) -> timedelta:
        return self.service + self.business_days * calendar.business_day()

    def __str__(self) -> str:
        if self.business_days:
            return f"{self.business_days} business day{'s' if self.business_days > 1 else ''}"
        return format_duration(self.service)


@dataclass(frozen=True, slots=True)
class SlaTarget:
    """The acknowledge and resolve targets of one priority; None: no target. With `always` the
    clock runs around the clock whatever the client's calendar."""

    ack: SlaTime | None
    resolve: SlaTime | None
    always: bool = False


AROUND_THE_CLOCK = frozenset({Priority.P1, Priority.P2})
"""Priorities whose SLA clock runs around the clock (`always`) unless the rota file says
`always: false`: an outage on Friday evening is due within its 30 minutes, not on Monday."""

DEFAULT_SLA: Mapping[Priority, SlaTarget] = {
    Priority.P1: SlaTarget(SlaTime(timedelta(minutes=15)), SlaTime(timedelta(minutes=30)), always=True),
    Priority.P2: SlaTarget(SlaTime(timedelta(minutes=30)), SlaTime(timedelta(hours=4)), always=True),
    Priority.P3: SlaTarget(SlaTime(timedelta(hours=2)), SlaTime(business_days=1)),
    Priority.P4: SlaTarget(SlaTime(business_days=1), SlaTime(business_days=5)),
    Priority.P5: SlaTarget(None, None),
}


@dataclass(frozen=True, slots=True)
class Client:
    name: str
    engineer: str | None  # owns the client's incidents during its business hours
    calendar: ServiceCalendar
    calendar_name: str
    sla: Mapping[Priority, SlaTarget] = field(default_factory=dict)  # overrides per priority
    policy: str | None = None  # escalation policy of the client's incidents
    engineer_schedule: str | None = None  # or: the engineers take turns in this schedule
    engineer_hours: ServiceCalendar | None = None  # when the engineer owns new incidents (else `calendar`)
    contact: Contact | None = None  # who receives the client's SLA report by e-mail


@dataclass(frozen=True, slots=True)
class Assignment:
    """Who owns a new incident, and why (recorded on its timeline)."""

    person: str
    why: str


@dataclass(frozen=True, slots=True)
class Paged:
    """Someone a step pages, and why."""

    person: str
    why: str


@dataclass(frozen=True, slots=True)
class Rota:
    tz: ZoneInfo
    people: Mapping[str, Person]
    teams: Mapping[str, Team]
    calendars: Mapping[str, ServiceCalendar]
    clients: Mapping[str, Client]
    schedules: Mapping[str, Schedule]
    responsible: tuple[Target, ...]
    policies: Mapping[str, EscalationPolicy]
    default_policy: str
    sla: Mapping[Priority, SlaTarget]
    default_calendar: str
    stale_after: timedelta = timedelta(days=30)
    max_returns: int = 2  # returned more often than this, an incident goes to the head of IT
    head_notify_open_after: timedelta | None = timedelta(days=3)
    head_notify_breaches: frozenset[Priority] = frozenset({Priority.P1, Priority.P2})
    reports: ReportSettings = field(default_factory=ReportSettings)  # night hours, SLA mail
    version: str = ""
    file: str = ""
    contacts: ContactBook = field(default_factory=ContactBook)  # who mails the desk for which client

    # -- lookups -------------------------------------------------------------------------------

    def person(self, handle: str | None) -> Person | None:
        return self.people.get(handle) if handle else None

    def display(self, handle: str | None) -> str:
        """``Anna Smirnova (anna)``, or the handle alone when the rota does not know it."""
        person = self.person(handle)
        if person is None:
            return handle or "nobody"
        return f"{person.name} ({person.handle})"

    def with_role(self, role: Role) -> list[Person]:
        return [p for p in self.people.values() if p.role is role]

    def head_of_it(self) -> Person | None:
        heads = self.with_role(Role.HEAD_OF_IT)
        return heads[0] if heads else None

    def calendar_of(self, client: str | None) -> ServiceCalendar:
        known = self.clients.get(client or "")
        return known.calendar if known else self.calendars[self.default_calendar]

    def sla_for(self, client: str | None, priority: Priority) -> SlaTarget:
        known = self.clients.get(client or "")
        if known and priority in known.sla:
            return known.sla[priority]
        return self.sla.get(priority, DEFAULT_SLA[priority])

    def policy_for(self, route: str | None, client: str | None) -> tuple[EscalationPolicy, str]:
        """The escalation policy for a rule's `route` (a policy, or a team with its policy), else
        the client's, else the default; with why."""
        if route and route in self.policies:
            return self.policies[route], f"route {route}"
        known = self.clients.get(client or "")
        if known and known.policy:
            return self.policies[known.policy], f"client {known.name}"
        why = f"unknown route {route!r}, default" if route else "default"
        return self.policies[self.default_policy], why

    def on_duty(self, schedule: str, at: datetime, extra: tuple[Override, ...] = ()) -> OnDuty | None:
        found = self.schedules[schedule]
        if extra:
            found = Schedule(found.name, found.layers, found.overrides + extra)
        return who_is_on_duty(found, at)

    def assigned_engineer(
        self, client: str | None, at: datetime, overrides: Mapping[str, tuple[Override, ...]]
    ) -> Paged | None:
        """The client's assigned engineer at `at` (a person, or whoever its schedule has on)."""
        known = self.clients.get(client or "")
        if known is None:
            return None
        if known.engineer:
            return Paged(known.engineer, f"assigned engineer of {known.name}")
        if known.engineer_schedule:
            duty = self.on_duty(known.engineer_schedule, at, overrides.get(known.engineer_schedule, ()))
            if duty is not None:
                return Paged(duty.person, f"assigned engineer of {known.name} ({known.engineer_schedule})")
        return None

    # -- questions ------------------------------------------------------------------------------

    def responsible_for(
        self, client: str | None, at: datetime, overrides: Mapping[str, tuple[Override, ...]] | None = None
    ) -> Assignment | None:
        """Who owns an incident of `client` opening at `at`: the first of `responsible` that
        finds someone (the assigned engineer only counts inside the client's service hours)."""
        overrides = overrides or {}
        known = self.clients.get(client or "")
        for target in self.responsible:
            if target.kind is TargetKind.ASSIGNED_ENGINEER:
                engineer = self.assigned_engineer(client, at, overrides)
                hours = known.engineer_hours or known.calendar if known else None
                if hours and engineer and hours.is_open(at):
                    return Assignment(engineer.person, f"{engineer.why} (its business hours)")
            elif target.kind is TargetKind.SCHEDULE:
                duty = self.on_duty(target.name, at, overrides.get(target.name, ()))
                if duty is not None:
                    how = "covering" if duty.override else "on duty"
                    return Assignment(duty.person, f"{how} in schedule {target.name}")
            elif target.kind is TargetKind.PERSON:
                return Assignment(target.name, "fallback of the rota")
            elif target.kind is TargetKind.ROLE:
                people = [p for p in self.people.values() if p.role.value == target.name]
                if people:
                    return Assignment(people[0].handle, f"fallback: the {ROLE_NAMES[people[0].role]}")
        return None

    def targets(
        self,
        step: Step,
        responsible: str | None,
        client: str | None,
        at: datetime,
        overrides: Mapping[str, tuple[Override, ...]] | None = None,
    ) -> list[Paged]:
        """Whom `step` pages for an incident owned by `responsible`, once each, in order."""
        overrides = overrides or {}
        found: dict[str, str] = {}
        for target in step.targets:
            if target.kind is TargetKind.RESPONSIBLE and responsible:
                found.setdefault(responsible, "responsible for the incident")
            elif target.kind is TargetKind.ASSIGNED_ENGINEER:
                engineer = self.assigned_engineer(client, at, overrides)
                if engineer is not None:
                    found.setdefault(engineer.person, engineer.why)
            elif target.kind is TargetKind.SCHEDULE:
                duty = self.on_duty(target.name, at, overrides.get(target.name, ()))
                if duty is not None:
                    found.setdefault(duty.person, f"on duty in schedule {target.name}")
            elif target.kind is TargetKind.PERSON:
                found.setdefault(target.name, "named in the policy")
            elif target.kind is TargetKind.TEAM:
                for member in self.teams[target.name].members:
                    found.setdefault(member, f"member of team {target.name}")
            elif target.kind is TargetKind.ROLE:
                for person in self.people.values():
                    if person.role.value == target.name:
                        found.setdefault(person.handle, ROLE_NAMES[person.role])
        return [Paged(person, why) for person, why in found.items()]

"""What the operator console's pages read, one call per page: the board (open incidents in the
order they must be worked), the alerts page (live alerts, silences, maintenance in force), the
rules page (what is loaded, the last refused reload, how much each rule saw today) and the on-duty
page (now, next, this week's shifts, overrides).

Reading only: every change a page makes goes through the service that owns it (incidents,
silences, oncall, live rules), with the person acting as `actor`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Status
from bridge.clock import Clock
from bridge.db.models import AlertRow, Incident, IncidentAlert, OncallOverride, SilenceRow
from bridge.db.queries import can_exist
from bridge.dedup.rules import Maintenance
from bridge.errors import RulesError
from bridge.priority import Priority
from bridge.schedule.rotation import OnDuty
from bridge.services.live import LiveRules
from bridge.services.noise import NoiseReport
from bridge.services.oncall import OncallService
from bridge.services.pipeline import alert_from_row
from bridge.services.proactive import ProactiveReport
from bridge.services.reports import ReportService, SlaReport
from bridge.ticketing.lifecycle import ACTIVE_STATUSES, IncidentStatus

BOARD_STATUSES = (*ACTIVE_STATUSES, IncidentStatus.RESOLVED.value)
"""What the board shows by default: everything someone still has to act on, resolved ones
waiting for the closure to be confirmed included."""

BOARD_LIMIT = 500
"""The most incidents the board lists (a storm that opens more is a storm the board says so)."""

STORM_ALERTS = 10
"""An incident with at least this many alerts attached carries the storm badge."""

LIVE_ALERTS = 300
"""The most live alerts the alerts page lists."""


@dataclass(frozen=True, slots=True)
class BoardFilter:
    """What the board shows. `visible_clients` None: every client (a viewer gets theirs only)."""

    status: Sequence[str] = BOARD_STATUSES
    priority: Sequence[str] = ()
    client: Sequence[str] = ()
    line: Sequence[str] = ()
    assignee: str | None = None
    visible_clients: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class BoardRow:
    incident: Incident
    due_at: datetime | None  # the next SLA deadline: acknowledge while open, else resolve
    due_kind: str  # "acknowledge", "resolve" or ""
    seconds_left: float | None  # negative: breached that long ago
    breached: bool
    badges: tuple[str, ...]  # "storm", "flapping", "maintenance"


@dataclass(frozen=True, slots=True)
class Board:
    now: datetime
    rows: list[BoardRow]
    total: int
    clients: list[str]  # what the client filter offers
    latest_number: int  # the newest incident visible: the page's poll asks what is newer


@dataclass(frozen=True, slots=True)
class RuleCount:
    name: str
    file: str
    line: int
    kind: str
    action: str
    alerts_today: int
    incidents_today: int


@dataclass(frozen=True, slots=True)
class RulesStatus:
    version: str
    loaded_at: datetime
    files: list[str]
    rules: list[RuleCount]
    error: RulesError | None
    error_at: datetime | None
    today_from: datetime


@dataclass(frozen=True, slots=True)
class MaintenanceNow:
    name: str
    file: str
    line: int
    matchers: list[str]
    until: datetime


@dataclass(frozen=True, slots=True)
class AlertsOverview:
    now: datetime
    alerts: list[AlertRow]
    total: int
    silences: list[SilenceRow]
    maintenance: list[MaintenanceNow]
    silence_from: AlertRow | None = None  # the alert a new silence is prefilled from


@dataclass(frozen=True, slots=True)
class DutyOverview:
    now: datetime
    current: dict[str, OnDuty | None]  # per schedule
    following: dict[str, OnDuty | None]  # the shift after the current one
    week: dict[str, list[OnDuty]]
    week_from: datetime
    overrides: list[OncallOverride]
    people: list[str]  # rota handles, for the override form
    names: dict[str, str] = field(default_factory=dict)  # handle -> name


@dataclass(frozen=True, slots=True)
class ReportsPage:
    sla: SlaReport
    proactive: ProactiveReport
    noise: NoiseReport | None  # the desk's alert figures span every client: not for a viewer


class ConsoleService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        rules: LiveRules,
        oncall: OncallService,
        reports: ReportService,
        zone: ZoneInfo,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.live_rules = rules
        self.oncall = oncall
        self.report_service = reports
        self.zone = zone

    def reports(self, start: datetime, end: datetime, client: str | None, *, noise: bool) -> ReportsPage:
        """The SLA report and the proactive share of [start, end) for `client` (None: all), and
        the noise report when `noise` (people who see every client's alerts)."""
        found = self.report_service
        return ReportsPage(
            found.sla(start, end, client),
            found.proactive(start, end, client),
            found.noise(start, end, client) if noise else None,
        )

    def board(self, wanted: BoardFilter) -> Board:
        """Open incidents, most urgent first: by priority, then by the time left to their next
        SLA deadline (breached first), then oldest first."""
        now = self.clock.now()
        statement = select(Incident).where(Incident.status.in_(wanted.status or BOARD_STATUSES))
        if wanted.priority:
            statement = statement.where(Incident.priority.in_(wanted.priority))
        if wanted.client:
            statement = statement.where(Incident.client.in_(wanted.client))
        if wanted.line:
            statement = statement.where(Incident.line.in_(wanted.line))
        if wanted.assignee:
            statement = statement.where(Incident.assignee == wanted.assignee)
        if wanted.visible_clients is not None:
            statement = statement.where(Incident.client.in_(wanted.visible_clients))
        with self.sessions() as session:
            incidents = list(session.scalars(statement.order_by(Incident.number.desc()).limit(BOARD_LIMIT)))
            total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
            clients_query = select(Incident.client).where(Incident.client.is_not(None)).distinct()
            if wanted.visible_clients is not None:
                clients_query = clients_query.where(Incident.client.in_(wanted.visible_clients))
            seen = {c for c in session.scalars(clients_query) if c}
            if wanted.visible_clients is None:
                seen |= set(self.oncall.live.rota.clients)  # every client the rota knows, even quiet
            clients = sorted(seen)
            in_maintenance = self._in_maintenance(session, [i.number for i in incidents], now)
        rows = [_board_row(incident, now, incident.number in in_maintenance) for incident in incidents]
        rows.sort(key=_urgency)
        latest = max((i.number for i in incidents), default=0)
        return Board(now, rows, total, clients, latest)

    def rules_status(self) -> RulesStatus:
        """The rules in force with today's counts (alerts first seen, incidents opened, since
        midnight in bridge's time zone) and the last refused reload."""
        live = self.live_rules
        ruleset = live.engine.rules
        now = self.clock.now()
        today = datetime.combine(now.astimezone(self.zone).date(), time(0), self.zone)
        with self.sessions() as session:
            alerts = Counter(
                dict(
                    session.execute(
                        select(AlertRow.rule, func.count())
                        .where(AlertRow.first_seen_at >= today)
                        .group_by(AlertRow.rule)
                    ).all()
                )
            )
            opened = Counter(
                {
                    rule: count
                    for rule, count in session.execute(
                        select(Incident.rule, func.count())
                        .where(Incident.opened_at >= today)
                        .group_by(Incident.rule)
                    ).all()
                    if rule is not None
                }
            )
        counts = [
            RuleCount(r.name, r.file, r.line, r.kind.value, r.action.value, alerts[r.name], opened[r.name])
            for r in ruleset.rules
        ]
        return RulesStatus(
            ruleset.version,
            live.loaded_at,
            sorted(ruleset.files),
            counts,
            live.last_error,
            live.last_error_at,
            today,
        )

    def alerts_overview(
        self, visible_clients: Sequence[str] | None = None, silence_from: int | None = None
    ) -> AlertsOverview:
        """Firing alerts, newest first, with the decision on each; silences not yet ended;
        maintenance windows in force now; the alert `silence_from` (an id) to prefill a silence
        with. A viewer (`visible_clients`) sees only the alerts of their clients' incidents, and
        no silences."""
        now = self.clock.now()
        statement = select(AlertRow).where(AlertRow.status == Status.FIRING)
        if visible_clients is not None:
            mine = select(Incident.number).where(Incident.client.in_(visible_clients))
            statement = statement.where(AlertRow.incident_number.in_(mine))
        with self.sessions() as session:
            total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
            alerts = list(
                session.scalars(statement.order_by(AlertRow.last_event_at.desc()).limit(LIVE_ALERTS))
            )
            silences: list[SilenceRow] = []
            if visible_clients is None:
                silences = list(
                    session.scalars(
                        select(SilenceRow)
                        .where(SilenceRow.expired_at.is_(None), SilenceRow.ends_at > now)
                        .order_by(SilenceRow.ends_at)
                    )
                )
            prefill = None
            if silence_from is not None and visible_clients is None and can_exist(silence_from):
                prefill = session.get(AlertRow, silence_from)
        maintenance = [] if visible_clients is not None else self._maintenance_now(now)
        return AlertsOverview(now, alerts, total, silences, maintenance, prefill)

    def duty(self) -> DutyOverview:
        """Who is on duty now and next per schedule, the shifts of the next seven days, the
        overrides not yet ended."""
        now = self.clock.now()
        start = datetime.combine(now.astimezone(self.zone).date(), time(0), self.zone)
        coming = self.oncall.shifts(start, start + timedelta(days=7))
        current: dict[str, OnDuty | None] = {}
        following: dict[str, OnDuty | None] = {}
        for name, shifts in coming.shifts.items():
            current[name] = next((s for s in shifts if s.shift_start <= now < s.shift_end), None)
            following[name] = next((s for s in shifts if s.shift_start >= now), None)
        rota = coming.rota
        names = {handle: person.name for handle, person in rota.people.items()}
        return DutyOverview(
            now,
            current,
            following,
            coming.shifts,
            start,
            self.oncall.list_overrides(),
            sorted(rota.people),
            names,
        )

    # -- helpers --------------------------------------------------------------------------------

    def _maintenance_now(self, now: datetime) -> list[MaintenanceNow]:
        found = []
        for window in self.live_rules.engine.rules.maintenance:
            until = window.until_any(now)
            if until is not None:
                matchers = [str(m) for m in window.matchers]
                found.append(MaintenanceNow(window.name, window.file, window.line, matchers, until))
        return found

    def _in_maintenance(self, session: Session, numbers: list[int], now: datetime) -> set[int]:
        """The incidents one of whose alerts a maintenance window in force covers now."""
        windows: list[Maintenance] = [
            w for w in self.live_rules.engine.rules.maintenance if w.until_any(now) is not None
        ]
        if not windows or not numbers:
            return set()
        rows = session.execute(
            select(IncidentAlert.incident_number, AlertRow)
            .join(AlertRow, AlertRow.fingerprint == IncidentAlert.fingerprint)
            .where(IncidentAlert.incident_number.in_(numbers))
        ).all()
        covered = set()
        for number, row in rows:
            if number in covered:
                continue
            alert = alert_from_row(row, now)
            if any(w.until(alert, now) is not None for w in windows):
                covered.add(number)
        return covered


def _board_row(incident: Incident, now: datetime, in_maintenance: bool) -> BoardRow:
    due_at, kind = _next_deadline(incident)
    left = (due_at - now).total_seconds() if due_at is not None else None
    breached = (
        (left is not None and left < 0)
        or (kind == "acknowledge" and incident.ack_breached_at is not None)
        or (kind == "resolve" and incident.resolve_breached_at is not None)
    )
    badges = tuple(
        name
        for name, on in (
            ("storm", incident.alert_count >= STORM_ALERTS),
            ("flapping", incident.flapping),
            ("maintenance", in_maintenance),
        )
        if on
    )
    return BoardRow(incident, due_at, kind, left, breached, badges)


def _next_deadline(incident: Incident) -> tuple[datetime | None, str]:
    """The SLA deadline that matters now: acknowledging while nobody has, then resolving; none
    once resolved (the clock stopped)."""
    if incident.status == IncidentStatus.OPEN and incident.ack_due_at is not None:
        return incident.ack_due_at, "acknowledge"
    if incident.status.active and incident.resolve_due_at is not None:
        return incident.resolve_due_at, "resolve"
    return None, ""


def _urgency(row: BoardRow) -> tuple[int, int, float, float]:
    """Priority first (P1 before P5), then work before waiting for confirmation, then the least
    time left (no deadline last), then the oldest."""
    rank = list(Priority).index(row.incident.priority)
    waiting = 1 if row.incident.status == IncidentStatus.RESOLVED else 0
    left = row.seconds_left if row.seconds_left is not None else float("inf")
    return rank, waiting, left, row.incident.opened_at.timestamp()

"""The reports, as one service: the SLA report (here: per client and priority, how many incidents,
how fast they were acknowledged and resolved, median and 90th percentile of service time in the
SLA's calendar, and the breaches with the incidents behind each), the noise report
(`bridge.services.noise`) and the proactive share (`bridge.services.proactive`).

Each method returns frozen dataclasses (`SlaReport`, `NoiseReport`, `ProactiveReport`) that the
API, the CLI, the CSV export (`bridge.services.report_csv`), the console pages and the e-mailed
report all draw from; each takes a period [start, end) (`end` defaults to now, `start` to
`REPORT_PERIOD` before it) and an optional client."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.models import AlertRow, AlertTally, Incident
from bridge.db.retention import hour_of
from bridge.errors import PayloadError
from bridge.priority import Priority
from bridge.services.live import LiveRota
from bridge.services.noise import NoiseReport, noise_report
from bridge.services.proactive import ProactiveReport, proactive_report
from bridge.ticketing.rota import Rota
from bridge.ticketing.sla import middle, percentile, service_time

NO_CLIENT = "(no client)"
REPORT_PERIOD = timedelta(days=30)
"""The period of a report when its start is not given."""


@dataclass(frozen=True, slots=True)
class Breach:
    number: int
    title: str
    target: str  # "acknowledge" or "resolve"
    due_at: datetime
    done_at: datetime | None  # when it was finally done (None: still not)
    assignee: str | None


@dataclass
class SlaRow:
    client: str
    priority: Priority
    count: int = 0
    acknowledged: int = 0
    resolved: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    resolve_seconds: list[float] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)

    @property
    def ack_median(self) -> float | None:
        return middle(self.ack_seconds)

    @property
    def ack_p90(self) -> float | None:
        return percentile(self.ack_seconds, 0.9)

    @property
    def resolve_median(self) -> float | None:
        return middle(self.resolve_seconds)

    @property
    def resolve_p90(self) -> float | None:
        return percentile(self.resolve_seconds, 0.9)

    @property
    def ack_breaches(self) -> int:
        return sum(1 for b in self.breaches if b.target == "acknowledge")

    @property
    def resolve_breaches(self) -> int:
        return sum(1 for b in self.breaches if b.target == "resolve")


@dataclass(frozen=True, slots=True)
class SlaReport:
    start: datetime
    end: datetime
    rows: list[SlaRow]


class ReportService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, rota: LiveRota) -> None:
        self.sessions = sessions
        self.clock = clock
        self.live = rota

    def sla(
        self, start: datetime | None = None, end: datetime | None = None, client: str | None = None
    ) -> SlaReport:
        """The SLA report of incidents opened in [start, end), by client then priority; `end`
        defaults to now and `start` to `REPORT_PERIOD` before it."""
        start, end = self.period(start, end)
        with self.sessions() as session:
            return SlaReport(start, end, sla_report(session, self.live.rota, start, end, client))

    def noise(
        self, start: datetime | None = None, end: datetime | None = None, client: str | None = None
    ) -> NoiseReport:
        """The noise report of [start, end) (see `bridge.services.noise`); nights in the rota's
        time zone and its `reports.night` hours."""
        start, end = self.period(start, end)
        rota = self.live.rota
        with self.sessions() as session:
            return noise_report(session, start, end, client, rota.tz, rota.reports.night)

    def proactive(
        self, start: datetime | None = None, end: datetime | None = None, client: str | None = None
    ) -> ProactiveReport:
        """Incidents monitoring opened against those people reported, and how many of monitoring's
        were resolved before anyone reported them (see `bridge.services.proactive`)."""
        start, end = self.period(start, end)
        with self.sessions() as session:
            return proactive_report(session, start, end, client)

    def period(self, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
        """[start, end) with the defaults filled in; PayloadError when it is empty."""
        end = end or self.clock.now()
        start = start or end - REPORT_PERIOD
        if start >= end:
            raise PayloadError("from", "must be before `to`")
        return start, end


def sla_report(
    session: Session, rota: Rota, start: datetime, end: datetime, client: str | None = None
) -> list[SlaRow]:
    """Incidents opened in [start, end), by client then priority."""
    query = select(Incident).where(Incident.opened_at >= start, Incident.opened_at < end)
    if client is not None:
        query = query.where(Incident.client == client)
    rows: dict[tuple[str, Priority], SlaRow] = {}
    breaches: dict[tuple[str, Priority], list[Breach]] = defaultdict(list)
    for incident in session.scalars(query.order_by(Incident.number)):
        key = (incident.client or NO_CLIENT, incident.priority)
        row = rows.setdefault(key, SlaRow(*key))
        row.count += 1
        priority = incident.priority
        # The first response: an acknowledgement, or a resolution without one.
        responded = incident.acknowledged_at or incident.resolved_at
        if responded is not None:
            row.acknowledged += 1
            row.ack_seconds.append(_seconds(rota, incident, priority, responded))
        if incident.resolved_at is not None:
            row.resolved += 1
            row.resolve_seconds.append(_seconds(rota, incident, priority, incident.resolved_at))
        if incident.ack_breached_at is not None:
            breaches[key].append(
                Breach(
                    incident.number,
                    incident.title,
                    "acknowledge",
                    incident.ack_breached_at,
                    responded,
                    incident.assignee,
                )
            )
        if incident.resolve_breached_at is not None:
            breaches[key].append(
                Breach(
                    incident.number,
                    incident.title,
                    "resolve",
                    incident.resolve_breached_at,
                    incident.resolved_at,
                    incident.assignee,
                )
            )
    for key, found in breaches.items():
        rows[key].breaches = found
    return [rows[key] for key in sorted(rows)]


def _seconds(rota: Rota, incident: Incident, priority: Priority, until: datetime) -> float:
    spent: timedelta = service_time(rota, incident.client, priority, incident.opened_at, until)
    return spent.total_seconds()


@dataclass(frozen=True, slots=True)
class AlertCount:
    """Alerts first seen in a period with one (source, rule, name, disposition, suppressed_by),
    and their occurrences: what the noise report counts."""

    alerts: int
    occurrences: int


AlertKey = tuple[str, str, str, str, str]
"""(source, rule, name, disposition, suppressed_by or "")."""


def alert_counts(session: Session, start: datetime, end: datetime) -> dict[AlertKey, AlertCount]:
    """Alerts first seen in [start, end): the rows still kept plus what pruned ones counted
    (`alert_tallies`, by the hour: a period on whole hours gives the same figures before and
    after a prune)."""
    sums: dict[AlertKey, list[int]] = defaultdict(lambda: [0, 0])
    live = (
        select(
            AlertRow.source,
            AlertRow.rule,
            AlertRow.name,
            AlertRow.disposition,
            AlertRow.suppressed_by,
            func.count(),
            func.coalesce(func.sum(AlertRow.occurrences), 0),
        )
        .where(AlertRow.first_seen_at >= start, AlertRow.first_seen_at < end)
        .group_by(AlertRow.source, AlertRow.rule, AlertRow.name, AlertRow.disposition, AlertRow.suppressed_by)
    )
    for source, rule, name, disposition, held, alerts, occurrences in session.execute(live):
        counted = sums[(str(source), rule, name, str(disposition), held or "")]
        counted[0] += int(alerts)
        counted[1] += int(occurrences)
    tallied = (
        select(
            AlertTally.source,
            AlertTally.rule,
            AlertTally.name,
            AlertTally.disposition,
            AlertTally.suppressed_by,
            func.sum(AlertTally.alerts),
            func.sum(AlertTally.occurrences),
        )
        .where(AlertTally.hour >= hour_of(start), AlertTally.hour < end)
        .group_by(
            AlertTally.source,
            AlertTally.rule,
            AlertTally.name,
            AlertTally.disposition,
            AlertTally.suppressed_by,
        )
    )
    for row in session.execute(tallied):
        counted = sums[(row[0], row[1], row[2], row[3], row[4])]
        alerts, occurrences = row[5], row[6]
        counted[0] += int(alerts)
        counted[1] += int(occurrences)
    return {key: AlertCount(alerts, occurrences) for key, (alerts, occurrences) in sums.items()}

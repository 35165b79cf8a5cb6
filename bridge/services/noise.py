"""The noise report: what monitoring sent in a period and what bridge made of it, for the people who
tune the rules and for the desk's load. Counted in the database with SQL aggregates (the alert
tables grow large); only the per-person figures (a few hundred rows) are finished in Python.

What is counted, for a period [start, end):
- **received, by source**: webhook deliveries and the alert events in them (an Alertmanager re-send
  counts again: that is the traffic), from the intake log by `received_at`; and distinct alerts
  (fingerprints) whose last event falls in the period, from the alerts table.
- **what became of those alerts**: each alert as it stands now, so `alerts = in_incidents +
  heartbeats + suppressed`, with the suppressed ones by reason (`dropped`, `maintenance`,
  `silenced`, `inhibited`, `for` and `threshold` holds, `resolved before firing`: a resolution
  bridge saw before the firing, `cleared`, `waiting`) and by rule. An alert that was held back, then
  joined an incident, counts once, as what it is now (as `bridge rules replay` counts recorded
  history).
- **incidents opened** in the period, per rule (`(by hand)` for incidents people opened) and per
  priority (their current priority).
- **the 20 noisiest alert names and hosts**: by occurrences (fires, resolves, fires again: 2),
  then by distinct alerts; with how many of those alerts are in an incident.
- **time to acknowledge per person**: for incidents opened in the period, the first
  acknowledgement on each incident's timeline, by who made it (a person's handle, `admin` for the
  admin token, `zabbix:<user>` for one made in Zabbix): count, median and 90th percentile of
  wall-clock time from opening.
- **pages per person per night**: registration and escalation messages (one page per person,
  incident and moment, however many channels carried it) created during the desk's night hours
  (`reports.night` in rota.yaml, default 21:00-09:00, in the rota's time zone); a night is named by
  the date it began on.

After a prune: the traffic and alert figures add what pruned rows counted (`intake_tallies`,
`alert_tallies`, by the hour), so they are the same before and after on a period of whole hours;
page notifications are never pruned (see docs/reports.md, "Over a prune").

With `client`, the incident, acknowledgement and page figures are that client's; the alert figures
stay estate-wide (`alerts_scope`), because bridge records a client only on incidents, not on the
alerts that opened none.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, CompoundSelect, and_, case, func, literal, select, union_all
from sqlalchemy.orm import Session

from bridge.db.models import (
    AlertRow,
    AlertTally,
    Incident,
    Intake,
    IntakeTally,
    Notification,
    TimelineEntry,
)
from bridge.db.retention import hour_of, suppression_kind
from bridge.dedup.state import Disposition
from bridge.priority import Priority
from bridge.schedule.wallclock import wall_to_utc
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.report_settings import Night
from bridge.ticketing.sla import middle, percentile

TOP = 20
"""How many of the noisiest alert names and hosts the report lists."""
BY_HAND = "(by hand)"
"""The rule column of incidents people opened."""
PAGES = (MessageKind.REGISTRATION, MessageKind.ESCALATION)
"""Messages that page someone: a new incident is theirs, or an escalation step reached them."""
ACKNOWLEDGED = "acknowledged"
"""The timeline kind of an acknowledgement (made in bridge or in Zabbix)."""
SUPPRESSED_DISPOSITIONS = (
    Disposition.DROPPED,
    Disposition.WAITING,
    Disposition.CLEARED,
    Disposition.SUPPRESSED,
    Disposition.INHIBITED,
)
"""An alert in one of these is one monitoring sent that paged nobody."""


@dataclass(frozen=True, slots=True)
class Counted:
    """One line of a breakdown: a key (a reason, a rule, a priority) and its count."""

    key: str
    count: int


@dataclass(frozen=True, slots=True)
class SourceFigures:
    source: str
    deliveries: int  # webhook deliveries received in the period
    events: int  # alert events in them (re-sends count again)
    alerts: int  # distinct alerts whose last event falls in the period


@dataclass(frozen=True, slots=True)
class Noisy:
    """An alert name or a host, and how loud it was."""

    key: str
    alerts: int  # distinct alerts (fingerprints)
    occurrences: int  # fires, counted again when one fired again after resolving
    in_incidents: int  # of those alerts, how many are part of an incident


@dataclass(frozen=True, slots=True)
class AckTimes:
    """How fast one person acknowledged (seconds of wall-clock time from opening)."""

    person: str
    count: int
    median_seconds: float
    p90_seconds: float


@dataclass(frozen=True, slots=True)
class NightPages:
    """How often one person was paged at night."""

    person: str
    pages: int  # at night, in the period
    nights_paged: int  # nights with at least one page
    most_in_a_night: int
    per_night: float  # pages / nights in the period
    by_night: tuple[tuple[date, int], ...]  # (the date a night began, pages), nights with pages only


@dataclass(frozen=True, slots=True)
class NoiseReport:
    start: datetime
    end: datetime
    client: str | None
    alerts_scope: str  # "all clients": the alert figures are never narrowed to a client
    sources: tuple[SourceFigures, ...]
    alerts: int  # = in_incidents + heartbeats + suppressed
    in_incidents: int
    heartbeats: int
    suppressed: int
    suppressed_by_reason: tuple[Counted, ...]  # largest first
    suppressed_by_rule: tuple[Counted, ...]
    incidents_opened: int
    opened_by_rule: tuple[Counted, ...]
    opened_by_priority: tuple[Counted, ...]  # P1..P5, each present
    noisiest_names: tuple[Noisy, ...]
    noisiest_hosts: tuple[Noisy, ...]
    ack_times: tuple[AckTimes, ...]  # by person's name
    night: str  # the desk's night hours, e.g. "21:00-09:00"
    timezone: str
    nights: int  # nights that overlap the period
    night_pages: tuple[NightPages, ...]  # most paged first


def noise_report(
    session: Session,
    start: datetime,
    end: datetime,
    client: str | None,
    tz: ZoneInfo,
    night: Night,
) -> NoiseReport:
    """The noise report of [start, end); see the module's docstring for what each figure counts."""
    sources = _sources(session, start, end)
    dispositions, reasons, rules = _outcomes(session, start, end)
    opened = _opened(session, start, end, client)
    by_rule: Counter[str] = Counter()
    by_priority: Counter[str] = Counter({p.value: 0 for p in Priority})
    for rule, priority, count in opened:
        by_rule[rule or BY_HAND] += count
        by_priority[str(priority)] += count
    nights = night_spans(start, end, tz, night)
    return NoiseReport(
        start=start,
        end=end,
        client=client,
        alerts_scope="all clients",
        sources=sources,
        alerts=sum(dispositions.values()),
        in_incidents=dispositions[Disposition.INCIDENT.value],
        heartbeats=dispositions[Disposition.HEARTBEAT.value],
        suppressed=sum(dispositions[d.value] for d in SUPPRESSED_DISPOSITIONS),
        suppressed_by_reason=_largest_first(reasons),
        suppressed_by_rule=_largest_first(rules),
        incidents_opened=sum(by_rule.values()),
        opened_by_rule=_largest_first(by_rule),
        opened_by_priority=tuple(Counted(p.value, by_priority[p.value]) for p in Priority),
        noisiest_names=_noisiest(session, start, end, "name"),
        noisiest_hosts=_noisiest(session, start, end, "host"),
        ack_times=_ack_times(session, start, end, client),
        night=str(night),
        timezone=str(tz),
        nights=len(nights),
        night_pages=_night_pages(session, start, end, client, nights),
    )


@dataclass(frozen=True, slots=True)
class NightSpan:
    """One night: the local date it began on, and [begins, ends) in UTC."""

    day: date
    begins: datetime
    ends: datetime


def night_spans(start: datetime, end: datetime, tz: ZoneInfo, night: Night) -> list[NightSpan]:
    """The nights that overlap [start, end), oldest first."""
    found = []
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date()
    while day <= last:
        begins = wall_to_utc(day, night.start, tz)
        ends_on = day if night.start < night.end else day + timedelta(days=1)
        ends = wall_to_utc(ends_on, night.end, tz)
        if begins < end and ends > start:
            found.append(NightSpan(day, begins, ends))
        day += timedelta(days=1)
    return found


# -- the queries ----------------------------------------------------------------------------------


def _in_period(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _sources(session: Session, start: datetime, end: datetime) -> tuple[SourceFigures, ...]:
    kept = select(
        Intake.source.label("source"),
        literal(1).label("deliveries"),
        Intake.alert_count.label("events"),
    ).where(_in_period(Intake.received_at, start, end))
    tallied = select(IntakeTally.source, IntakeTally.deliveries, IntakeTally.events).where(
        IntakeTally.hour >= hour_of(start), IntakeTally.hour < end
    )
    received = union_all(kept, tallied).subquery()
    traffic = session.execute(
        select(
            received.c.source,
            func.sum(received.c.deliveries),
            func.coalesce(func.sum(received.c.events), 0),
        ).group_by(received.c.source)
    ).all()
    alerts = _alerts_and_tallies(start, end).subquery()
    distinct = {
        str(source): int(n)
        for source, n in session.execute(
            select(alerts.c.source, func.sum(alerts.c.alerts)).group_by(alerts.c.source)
        )
    }
    deliveries = {str(source): (int(n), int(events)) for source, n, events in traffic}
    return tuple(
        SourceFigures(source, *deliveries.get(source, (0, 0)), distinct.get(source, 0))
        for source in sorted(set(deliveries) | set(distinct))
    )


def _outcomes(
    session: Session, start: datetime, end: datetime
) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Alerts per disposition, and those that paged nobody per reason and per rule: one scan,
    grouped by (disposition, reason, rule), a few hundred groups at most."""
    alerts = _alerts_and_tallies(start, end).subquery()
    rows = session.execute(
        select(alerts.c.disposition, alerts.c.reason, alerts.c.rule, func.sum(alerts.c.alerts)).group_by(
            alerts.c.disposition, alerts.c.reason, alerts.c.rule
        )
    ).all()
    dispositions: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    suppressed = {d.value for d in SUPPRESSED_DISPOSITIONS}
    for disposition, reason, rule, n in rows:
        dispositions[str(disposition)] += int(n)
        if str(disposition) in suppressed:
            reasons[str(reason)] += int(n)
            rules[str(rule)] += int(n)
    return dispositions, reasons, rules


def _alerts_and_tallies(start: datetime, end: datetime) -> CompoundSelect[Any]:
    """The alerts whose last event falls in [start, end) still kept, one line each, and what pruned
    ones counted (`alert_tallies`, by the hour of their last event: exact on whole hours), as one
    set of (source, disposition, reason, rule, name, host, alerts, occurrences)."""
    kept = select(
        AlertRow.source.label("source"),
        AlertRow.disposition.label("disposition"),
        suppression_kind().label("reason"),
        AlertRow.rule.label("rule"),
        AlertRow.name.label("name"),
        func.coalesce(AlertRow.host, "").label("host"),
        literal(1).label("alerts"),
        AlertRow.occurrences.label("occurrences"),
    ).where(_in_period(AlertRow.last_event_at, start, end))
    tallied = select(
        AlertTally.source,
        AlertTally.disposition,
        AlertTally.reason,
        AlertTally.rule,
        AlertTally.name,
        AlertTally.host,
        AlertTally.alerts,
        AlertTally.occurrences,
    ).where(AlertTally.last_hour >= hour_of(start), AlertTally.last_hour < end)
    return union_all(kept, tallied)


def _opened(session: Session, start: datetime, end: datetime, client: str | None) -> list[tuple[Any, ...]]:
    query = select(Incident.rule, Incident.priority, func.count()).where(
        _in_period(Incident.opened_at, start, end)
    )
    if client is not None:
        query = query.where(Incident.client == client)
    return [tuple(row) for row in session.execute(query.group_by(Incident.rule, Incident.priority))]


def _noisiest(session: Session, start: datetime, end: datetime, key: str) -> tuple[Noisy, ...]:
    alerts = _alerts_and_tallies(start, end).subquery()
    column = alerts.c[key]
    count = func.sum(alerts.c.alerts)
    occurrences = func.sum(alerts.c.occurrences)
    in_incidents = func.sum(case((alerts.c.disposition == Disposition.INCIDENT, alerts.c.alerts), else_=0))
    rows = session.execute(
        select(column, count, occurrences, in_incidents)
        .group_by(column)
        .order_by(occurrences.desc(), count.desc(), column)
        .limit(TOP)
    ).all()
    return tuple(Noisy(str(k), int(n), int(o or 0), int(i or 0)) for k, n, o, i in rows)


def _ack_times(session: Session, start: datetime, end: datetime, client: str | None) -> tuple[AckTimes, ...]:
    query = (
        select(TimelineEntry.incident_number, TimelineEntry.actor, TimelineEntry.at, Incident.opened_at)
        .join(Incident, Incident.number == TimelineEntry.incident_number)
        .where(TimelineEntry.kind == ACKNOWLEDGED, _in_period(Incident.opened_at, start, end))
        .order_by(TimelineEntry.incident_number, TimelineEntry.id)
    )
    if client is not None:
        query = query.where(Incident.client == client)
    seconds: dict[str, list[float]] = defaultdict(list)
    last = None
    for number, actor, at, opened_at in session.execute(query):
        if number == last:
            continue  # only each incident's first acknowledgement
        last = number
        seconds[actor].append(max((at - opened_at).total_seconds(), 0.0))
    result = []
    for person in sorted(seconds):
        values = seconds[person]
        median, p90 = middle(values), percentile(values, 0.9)
        assert median is not None and p90 is not None
        result.append(AckTimes(person, len(values), median, p90))
    return tuple(result)


def _night_pages(
    session: Session, start: datetime, end: datetime, client: str | None, spans: list[NightSpan]
) -> tuple[NightPages, ...]:
    """Counted in SQL: each page (person, incident, moment) once, named by the night it fell in
    (a CASE over the period's nights, in UTC), then counted per person and night."""
    if not spans:
        return ()
    at = Notification.created_at
    night = case(
        *((and_(at >= s.begins, at < s.ends), literal(s.day.isoformat())) for s in spans), else_=None
    )
    pages = (
        select(Notification.person.label("person"), night.label("night"))
        .where(_in_period(at, start, end), Notification.kind.in_(PAGES))
        .group_by(Notification.person, Notification.incident_number, at)
    )
    if client is not None:
        pages = pages.join(Incident, Incident.number == Notification.incident_number).where(
            Incident.client == client
        )
    paged = pages.subquery()
    rows = session.execute(
        select(paged.c.person, paged.c.night, func.count())
        .where(paged.c.night.is_not(None))
        .group_by(paged.c.person, paged.c.night)
    ).all()
    per_person: dict[str, Counter[date]] = defaultdict(Counter)
    for person, day, n in rows:
        per_person[str(person)][date.fromisoformat(str(day))] += int(n)
    result = [
        NightPages(
            person=person,
            pages=sum(counts.values()),
            nights_paged=len(counts),
            most_in_a_night=max(counts.values()),
            per_night=round(sum(counts.values()) / len(spans), 3),
            by_night=tuple(sorted(counts.items())),
        )
        for person, counts in per_person.items()
    ]
    return tuple(sorted(result, key=lambda p: (-p.pages, p.person)))


def _largest_first(counts: Counter[str]) -> tuple[Counted, ...]:
    return tuple(Counted(key, n) for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n)

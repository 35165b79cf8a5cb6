"""What the database recorded of a period: the "what actually happened" column of a replay.

Incidents are exact (opened in the period, with the rule that opened them). Suppressions are
counted from each alert's last recorded state, so an alert that was held back, then opened an
incident, counts once, as what it is now; the replay column counts every held occurrence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bridge.db.models import AlertRow, Incident, Intake
from bridge.dedup.state import Disposition
from bridge.replay.replayer import IncidentSummary, Summary, suppression_kind


def recorded_summary(session: Session, since: datetime | None, until: datetime | None) -> Summary:
    summary = Summary("recorded", exact_suppressed=False)
    intake = select(
        func.count(),
        func.coalesce(func.sum(Intake.alert_count), 0),
        func.min(Intake.received_at),
        func.max(Intake.received_at),
    )
    if since is not None:
        intake = intake.where(Intake.received_at >= since)
    if until is not None:
        intake = intake.where(Intake.received_at < until)
    summary.deliveries, summary.alerts, summary.first_at, summary.last_at = session.execute(intake).one()
    incidents = select(Incident).where(Incident.rule.is_not(None)).order_by(Incident.number)
    if since is not None:
        incidents = incidents.where(Incident.opened_at >= since)
    if until is not None:
        incidents = incidents.where(Incident.opened_at < until)
    for row in session.scalars(incidents):
        summary.incidents.append(
            IncidentSummary(
                number=row.number,
                group_key=row.group_key or "",
                rule=row.rule or "",
                priority=row.priority,
                title=row.title,
                first_alert_at=row.first_alert_at or row.opened_at,
                opened_at=row.opened_at,
                resolved_at=row.resolved_at,
                reopen_count=row.reopen_count,
                alerts=row.alert_count,
                flapping=row.flapping,
            )
        )
        summary.rule(row.rule or "").incidents += 1
    alerts = select(AlertRow.rule, AlertRow.disposition, AlertRow.reason, AlertRow.suppressed_by)
    alerts = alerts.where(AlertRow.disposition != Disposition.INCIDENT.value)
    if since is not None:
        alerts = alerts.where(AlertRow.last_event_at >= since)
    if until is not None:
        alerts = alerts.where(AlertRow.last_event_at < until)
    for rule, disposition, reason, suppressed_by in session.execute(alerts):
        kind = suppression_kind(Disposition(disposition), reason or "", suppressed_by)
        if kind is not None:
            summary.suppressed[kind] += 1
            summary.rule(rule).suppressed += 1
    return summary

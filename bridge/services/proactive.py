"""The proactive share: of the incidents of a period, how many monitoring opened and how many people
reported (opened by hand), and how many of monitoring's were resolved before anyone reported them.
The desks measure themselves by it: an outage fixed before the client calls is the job done well.

Precisely, for incidents opened in [start, end):
- a **monitoring incident** is one a rule opened (it has a rule: alerts, heartbeats);
- a **reported incident** is one a person opened by hand as an incident (no rule, type
  `incident`: a call or a mail about something broken; service and change requests are not
  reports of a fault and are left out);
- a monitoring incident **was reported** when a reported incident of the same client was opened
  from `REPORT_LEAD` before its first alert until its resolution (or at any later time while it
  is unresolved). bridge has no link between a person's report and an alert, so the client and
  the time are what ties them; a report without a client, or a monitoring incident without one,
  could be about anything, so it ties to everything of its time (the figure errs on the side of
  "reported": the proactive count is a lower bound);
- **resolved before reported**: a monitoring incident resolved (at any time until now) that no
  report was tied to; **open, not reported**: not resolved yet, no report tied to it.

So `monitoring = resolved_unreported + reported + open_unreported`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.db.models import Incident
from bridge.ticketing.lifecycle import IncidentType

REPORT_LEAD = timedelta(minutes=30)
"""A person's report this long before monitoring's first alert is still about the same fault (the
caller noticed first)."""
NO_CLIENT = "(no client)"


@dataclass
class ProactiveRow:
    """The figures of one client (or of all: `client` is "(all)")."""

    client: str
    monitoring: int = 0
    reported_by_people: int = 0
    resolved_unreported: int = 0  # resolved before anyone reported them
    reported: int = 0  # monitoring incidents a person's report was tied to
    open_unreported: int = 0
    numbers_resolved_unreported: list[int] = field(default_factory=list)

    @property
    def monitoring_share(self) -> float | None:
        """monitoring / (monitoring + reported by people); None without incidents."""
        total = self.monitoring + self.reported_by_people
        return round(self.monitoring / total, 4) if total else None

    @property
    def proactive_share(self) -> float | None:
        """resolved before reported / monitoring; None without monitoring incidents."""
        return round(self.resolved_unreported / self.monitoring, 4) if self.monitoring else None


@dataclass(frozen=True, slots=True)
class ProactiveReport:
    start: datetime
    end: datetime
    client: str | None
    rows: list[ProactiveRow]  # per client, by name
    total: ProactiveRow


def proactive_report(session: Session, start: datetime, end: datetime, client: str | None) -> ProactiveReport:
    """The proactive share of incidents opened in [start, end), per client and in all."""
    monitoring = select(
        Incident.number, Incident.client, Incident.first_alert_at, Incident.opened_at, Incident.resolved_at
    ).where(Incident.opened_at >= start, Incident.opened_at < end, Incident.rule.is_not(None))
    if client is not None:
        monitoring = monitoring.where(Incident.client == client)
    found = session.execute(monitoring.order_by(Incident.number)).all()
    # A report may come before monitoring's first alert, which may come long before the period.
    earliest = min([start, *(_began(row[2], row[3]) for row in found)])
    by_hand = select(Incident.client, Incident.opened_at).where(
        Incident.rule.is_(None), Incident.type == IncidentType.INCIDENT, Incident.opened_at >= earliest
    )
    if client is not None:
        by_hand = by_hand.where((Incident.client == client) | Incident.client.is_(None))
    reports: dict[str | None, list[datetime]] = defaultdict(list)
    rows: dict[str, ProactiveRow] = {}
    for owner, opened_at in session.execute(by_hand.order_by(Incident.opened_at)):
        reports[owner].append(opened_at)
        if start <= opened_at < end and (client is None or owner == client):
            name = owner or NO_CLIENT
            rows.setdefault(name, ProactiveRow(name)).reported_by_people += 1
    for number, owner, first_alert_at, opened_at, resolved_at in found:
        name = owner or NO_CLIENT
        row = rows.setdefault(name, ProactiveRow(name))
        row.monitoring += 1
        began = _began(first_alert_at, opened_at)
        tied = list(reports.values()) if owner is None else [reports.get(owner, []), reports.get(None, [])]
        if any(_any_within(times, began, resolved_at) for times in tied):
            row.reported += 1
        elif resolved_at is not None:
            row.resolved_unreported += 1
            row.numbers_resolved_unreported.append(number)
        else:
            row.open_unreported += 1
    ordered = [rows[name] for name in sorted(rows)]
    return ProactiveReport(start, end, client, ordered, _total(ordered))


def _began(first_alert_at: datetime | None, opened_at: datetime) -> datetime:
    """From when a person's report is tied to a monitoring incident."""
    return min(first_alert_at or opened_at, opened_at) - REPORT_LEAD


def _any_within(times: list[datetime], since: datetime, until: datetime | None) -> bool:
    """Is any of the sorted `times` in [since, until] (until None: no end)?"""
    first = bisect_left(times, since)
    if until is None:
        return first < len(times)
    return bisect_right(times, until) > first


def _total(rows: list[ProactiveRow]) -> ProactiveRow:
    total = ProactiveRow("(all)")
    for row in rows:
        total.monitoring += row.monitoring
        total.reported_by_people += row.reported_by_people
        total.resolved_unreported += row.resolved_unreported
        total.reported += row.reported
        total.open_unreported += row.open_unreported
        total.numbers_resolved_unreported.extend(row.numbers_resolved_unreported)
    total.numbers_resolved_unreported.sort()
    return total

"""A Zabbix event as bridge sees it, for the link bridge stores on every problem
(`__zbx_bridge_url`, `/zabbix/events/<instance>/<event id>`): the incident the problem belongs to,
or, while it has none, the decision on its alert (held by `for:` until a time, counted towards a
threshold, dropped by a rule, in maintenance...). The link is true from the first answer on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.db.models import AlertRow, IncidentAlert, Timer
from bridge.dedup.state import Disposition, EngineTimer


@dataclass(frozen=True, slots=True)
class ZabbixEvent:
    """What the event's page shows; `alert` is None when bridge has not received the event."""

    instance: str
    event_id: str
    alert: AlertRow | None
    incident: int | None
    opens_at: datetime | None
    """When a `for:` hold is due to open the alert's incident, if it keeps firing."""


class ZabbixEvents:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def event(self, instance: str, event_id: str) -> ZabbixEvent:
        """The event's alert, its incident (also after the alert moved on), and its hold's due time."""
        fingerprint = f"zabbix:{instance}:{event_id}"
        with self.sessions() as session:
            alert = session.scalar(select(AlertRow).where(AlertRow.fingerprint == fingerprint))
            if alert is None:
                return ZabbixEvent(instance, event_id, None, None, None)
            session.expunge(alert)
            incident = alert.incident_number
            if incident is None:
                incident = session.scalar(
                    select(IncidentAlert.incident_number)
                    .where(IncidentAlert.fingerprint == fingerprint)
                    .order_by(IncidentAlert.last_attached_at.desc())
                    .limit(1)
                )
            opens_at = None
            if incident is None and alert.disposition == Disposition.WAITING and alert.group_key:
                opens_at = session.scalar(
                    select(Timer.due_at).where(
                        Timer.kind == EngineTimer.HOLD.value, Timer.subject == alert.group_key
                    )
                )
        return ZabbixEvent(instance, event_id, alert, incident, opens_at)

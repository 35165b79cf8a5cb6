"""Telling the sources what people did in bridge: the outbox jobs an incident change asks for,
and the handlers that carry them out.

- acknowledge in bridge -> `event.acknowledge` (acknowledge + message) on its open Zabbix problems,
  and, when the incident's rule says `silence_on_ack`, an Alertmanager silence per firing alert;
- comment -> a problem message in Zabbix (when BRIDGE_ZABBIX_MIRROR_COMMENTS is on);
- close -> close the Zabbix problems whose trigger allows it, a message on the others;
- a Zabbix problem that joins an incident after its webhook was answered (a `for:` hold or a
  threshold expired, reconciliation found it) -> a problem message "bridge incident 17 opened:
  <link>", since the event tags of that answer could not name the incident yet;
- resolve or close -> the incident's Alertmanager silences are expired.
A change that came from Zabbix is not written back to Zabbix.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bridge.alert import Source, Status
from bridge.clock import Clock
from bridge.db.models import AlertmanagerSilence, AlertRow, Incident, IncidentAlert
from bridge.integrations.alertmanager import AlertmanagerClient
from bridge.integrations.zabbix import ZabbixClient
from bridge.services.hooks import IncidentChange
from bridge.services.live import LiveRules
from bridge.services.outbox import Handler, JobResult, enqueue
from bridge.settings import Settings
from bridge.sources.zabbix import MARKER, joined_message
from bridge.ticketing.lifecycle import IncidentAction
from bridge.timeutil import parse_instant

ZABBIX_ACKNOWLEDGE = "zabbix.acknowledge"
ZABBIX_MESSAGE = "zabbix.message"
ZABBIX_CLOSE = "zabbix.close"
ZABBIX_JOINED = "zabbix.joined"
AM_SILENCE = "alertmanager.silence"
AM_EXPIRE = "alertmanager.expire"


class Writeback:
    """An `IncidentHooks` that plans write-back jobs; `handlers()` carries them out."""

    def __init__(self, settings: Settings, rules: LiveRules, clock: Clock) -> None:
        self.settings = settings
        self.rules = rules
        self.clock = clock
        self._zabbix = ZabbixClient(settings) if settings.zabbix_enabled else None
        self._alertmanager = (
            AlertmanagerClient(settings.alertmanager_url) if settings.alertmanager_url else None
        )

    # -- planning (inside the change's transaction) ---------------------------------------------

    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        return None  # the sources hear of it per alert (alert_attached) or in the webhook's answer

    def alert_attached(
        self, session: Session, incident: Incident, alert: AlertRow, now: datetime, late: bool
    ) -> None:
        if (
            not late
            or self._zabbix is None
            or alert.source != Source.ZABBIX
            or alert.status != Status.FIRING
            or not alert.fingerprint.startswith(f"zabbix:{self.settings.zabbix_instance}:")
        ):
            return
        base = self.settings.base_url
        link = f"{base.rstrip('/')}/incidents/{incident.number}" if base else ""
        message = joined_message(incident.number, link, opened=incident.opened_at == now)
        payload = {"event_ids": [alert.source_ref], "message": message}
        enqueue(session, ZABBIX_JOINED, payload, now, incident.number)

    def incident_changed(self, session: Session, change: IncidentChange) -> None:
        if self._zabbix is not None and change.origin != Source.ZABBIX:
            self._plan_zabbix(session, change)
        if self._alertmanager is not None:
            self._plan_alertmanager(session, change)

    def _plan_zabbix(self, session: Session, change: IncidentChange) -> None:
        number = change.incident.number
        problems = self._alerts(session, number, Source.ZABBIX)
        prefix = f"zabbix:{self.settings.zabbix_instance}:"
        mine = [a for a in problems if a.fingerprint.startswith(prefix)]
        open_ids = [a.source_ref for a in mine if a.status == Status.FIRING]
        said = f": {change.comment}" if change.comment else ""
        by = f"{number} by {change.actor}{said}"
        if change.action is IncidentAction.ACK and open_ids:
            payload = {"event_ids": open_ids, "message": f"Acknowledged {MARKER} {by}"}
            enqueue(session, ZABBIX_ACKNOWLEDGE, payload, change.at, number)
        elif change.action is IncidentAction.COMMENT and mine and self.settings.zabbix_mirror_comments:
            payload = {"event_ids": [a.source_ref for a in mine], "message": f"Comment {MARKER} {by}"}
            enqueue(session, ZABBIX_MESSAGE, payload, change.at, number)
        elif change.action is IncidentAction.CLOSE and open_ids:
            payload = {"event_ids": open_ids, "message": f"Closed {MARKER} {by}"}
            enqueue(session, ZABBIX_CLOSE, payload, change.at, number)

    def _plan_alertmanager(self, session: Session, change: IncidentChange) -> None:
        number, now = change.incident.number, change.at
        if change.action is IncidentAction.ACK:
            duration = self.rules.engine.rules.rule_named(change.incident.rule or "").silence_on_ack
            if duration is None:
                return
            for alert in self._alerts(session, number, Source.ALERTMANAGER):
                if alert.status == Status.FIRING:
                    payload = {
                        "incident": number,
                        "fingerprint": alert.fingerprint,
                        "labels": dict(alert.labels),
                        "actor": change.actor,
                        "starts_at": now.isoformat(),
                        "ends_at": (now + duration).isoformat(),
                    }
                    enqueue(session, AM_SILENCE, payload, now, number)
        elif change.action in (IncidentAction.RESOLVE, IncidentAction.CLOSE, IncidentAction.CANCEL):
            active = session.scalars(
                select(AlertmanagerSilence).where(
                    AlertmanagerSilence.incident_number == number, AlertmanagerSilence.expired_at.is_(None)
                )
            )
            for silence in active:
                enqueue(session, AM_EXPIRE, {"silence_id": silence.silence_id}, now, number)

    @staticmethod
    def _alerts(session: Session, number: int, source: Source) -> list[AlertRow]:
        query = (
            select(AlertRow)
            .join(IncidentAlert, IncidentAlert.fingerprint == AlertRow.fingerprint)
            .where(IncidentAlert.incident_number == number, AlertRow.source == source)
            .order_by(AlertRow.id)
        )
        return list(session.scalars(query))

    # -- doing (outside any transaction) --------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        handlers: dict[str, Handler] = {}
        if self._zabbix is not None:
            handlers |= {
                ZABBIX_ACKNOWLEDGE: self._acknowledge,
                ZABBIX_MESSAGE: self._message,
                ZABBIX_CLOSE: self._close,
                ZABBIX_JOINED: self._joined,
            }
        if self._alertmanager is not None:
            handlers |= {AM_SILENCE: self._silence, AM_EXPIRE: self._expire}
        return handlers

    def _acknowledge(self, job: dict[str, Any]) -> JobResult:
        assert self._zabbix is not None
        self._zabbix.acknowledge(job["event_ids"], job["message"], acknowledge=True)
        return JobResult(note=f"acknowledged in Zabbix: problem {', '.join(job['event_ids'])}")

    def _message(self, job: dict[str, Any]) -> JobResult:
        assert self._zabbix is not None
        self._zabbix.acknowledge(job["event_ids"], job["message"])
        return JobResult(note=f"comment copied to Zabbix: problem {', '.join(job['event_ids'])}")

    def _joined(self, job: dict[str, Any]) -> JobResult:
        assert self._zabbix is not None
        self._zabbix.acknowledge(job["event_ids"], job["message"])  # the message action only
        return JobResult(note=f"incident link added in Zabbix: problem {', '.join(job['event_ids'])}")

    def _close(self, job: dict[str, Any]) -> JobResult:
        assert self._zabbix is not None
        allowed = self._zabbix.manual_close_allowed(job["event_ids"])
        closable = [e for e in job["event_ids"] if allowed.get(e)]
        others = [e for e in job["event_ids"] if not allowed.get(e)]
        notes = []
        if closable:
            self._zabbix.acknowledge(closable, job["message"], close=True)
            notes.append(f"closed in Zabbix: problem {', '.join(closable)}")
        if others:
            self._zabbix.acknowledge(others, job["message"] + " (its trigger does not allow closing by hand)")
            notes.append(
                f"message added in Zabbix, whose trigger does not allow closing: problem {', '.join(others)}"
            )
        return JobResult(note="; ".join(notes))

    def _silence(self, job: dict[str, Any]) -> JobResult:
        assert self._alertmanager is not None
        ends_at = parse_instant(job["ends_at"])
        silence_id = self._alertmanager.create_silence(
            job["labels"],
            parse_instant(job["starts_at"]),
            ends_at,
            created_by=f"bridge ({job['actor']})",
            comment="acknowledged in bridge",
        )

        def record(session: Session) -> None:
            now = self.clock.now()
            number = int(job["incident"])
            session.add(
                AlertmanagerSilence(
                    incident_number=number,
                    fingerprint=job["fingerprint"],
                    silence_id=silence_id,
                    ends_at=ends_at,
                    created_at=now,
                )
            )
            incident = session.get(Incident, number)
            if incident is not None and not incident.status.active:
                # resolved while the silence was being made: expire it straight away
                enqueue(session, AM_EXPIRE, {"silence_id": silence_id}, now, number)

        return JobResult(
            note=f"silenced in Alertmanager until {job['ends_at']} (silence {silence_id})", record=record
        )

    def _expire(self, job: dict[str, Any]) -> JobResult:
        assert self._alertmanager is not None
        existed = self._alertmanager.expire_silence(job["silence_id"])

        def record(session: Session) -> None:
            for silence in session.scalars(
                select(AlertmanagerSilence).where(AlertmanagerSilence.silence_id == job["silence_id"])
            ):
                silence.expired_at = self.clock.now()

        note = f"Alertmanager silence {job['silence_id']} expired" + (
            "" if existed else " (it was already gone)"
        )
        return JobResult(note=note, record=record)

"""Reconciliation: staying in step with Zabbix and Alertmanager after bridge missed something.

Both ask the source's API what is firing now, and turn every difference into a delivery of the
source's own body format, marked `"origin": "reconciliation"`, stored in the intake log like any
webhook. So what bridge missed goes through the normal rules, idempotently (a reconciled problem
has the same idempotency key as the webhook that was lost), and says where it came from.

Zabbix's webhooks come first: a problem, a recovery or an acknowledgement younger than
`BRIDGE_ZABBIX_RECONCILE_GRACE` is theirs to deliver (the media type retries for about a minute),
and an acknowledgement that bridge wrote itself, or that came before a person reopened or
rejected the incident in bridge, acknowledges nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Source, Status
from bridge.clock import Clock
from bridge.db.models import AlertRow, Incident, TimelineEntry
from bridge.integrations.alertmanager import AlertmanagerClient
from bridge.integrations.zabbix import ACKNOWLEDGE, UNACKNOWLEDGE, Problem, ZabbixClient
from bridge.services.intake import IntakeService
from bridge.services.zabbix_instances import ZabbixInstances
from bridge.settings import Settings
from bridge.sources.zabbix import TEST_LABEL, from_bridge
from bridge.ticketing.lifecycle import VERBS, IncidentAction, IncidentStatus
from bridge.timeutil import iso, parse_instant

log = logging.getLogger(__name__)
ORIGIN = "reconciliation"
INSTANCE_MACRO = "{$BRIDGE.INSTANCE}"
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconciliation found: alerts it brought in, resolved, or acknowledged."""

    found: int = 0
    resolved: int = 0
    acknowledged: int = 0
    deliveries: int = 0


class ZabbixReconciler:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Clock,
        client: ZabbixClient,
        intake: IntakeService,
        instances: ZabbixInstances | None = None,
    ) -> None:
        self.instance = settings.zabbix_instance
        self.instances = instances
        self._macro_checked = False
        self.zabbix_url = settings.zabbix_url or ""
        self.ack_acknowledges = settings.zabbix_ack_acknowledges
        self.grace = settings.zabbix_reconcile_grace
        self.sessions = sessions
        self.clock = clock
        self.client = client
        self.intake = intake

    def run(self) -> Reconciled:
        problems = self.client.problems()
        if not self._macro_checked and self.instances is not None:
            self._check_macro(self.instances)
        now = self.clock.now()
        prefix = f"zabbix:{self.instance}:"
        by_event = {p.event_id: p for p in problems}
        with self.sessions() as session:
            known = _rows(session, [prefix + p.event_id for p in problems])
            firing = list(
                session.scalars(
                    select(AlertRow).where(
                        AlertRow.source == Source.ZABBIX,
                        AlertRow.status == Status.FIRING,
                        AlertRow.fingerprint.startswith(prefix),
                    )
                )
            )
            open_incidents = _open_incidents(session, [r.incident_number for r in known.values()])
            back_to_work = _back_to_work(session, open_incidents)
        settled = now - self.grace  # what happened after this is the webhooks' to deliver
        bodies: list[dict[str, Any]] = []
        found = resolved = acknowledged = 0
        for problem in problems:
            row = known.get(prefix + problem.event_id)
            if problem.recovery_event_id is None and row is None:
                if problem.started_at <= settled:
                    bodies.append(self._body("problem", problem))
                    found += 1
            elif (
                row is not None
                and row.status == Status.FIRING
                and problem.recovery_event_id is None
                and problem.acknowledged
                and self.ack_acknowledges
                and row.incident_number in open_incidents
            ):
                by_person = person_acknowledged_at(problem)
                since = back_to_work.get(row.incident_number or 0)
                if by_person is not None and by_person <= settled and (since is None or by_person > since):
                    bodies.append(self._body("update", problem, acknowledged_at=by_person))
                    acknowledged += 1
        for row in firing:
            still = by_event.get(row.source_ref)
            if still is None or (
                still.recovery_event_id is not None and (still.resolved_at or now) <= settled
            ):
                bodies.append(self._recovery(row, still, now))
                resolved += 1
        for body in bodies:
            self.intake.store(Source.ZABBIX, json.dumps(body).encode())
        return Reconciled(found, resolved, acknowledged, len(bodies))

    def _check_macro(self, instances: ZabbixInstances) -> None:
        """Once: Zabbix's `{$BRIDGE.INSTANCE}`, when the API user may read global macros."""
        self._macro_checked = True
        try:
            value = self.client.global_macro(INSTANCE_MACRO)
        except Exception as exc:  # a user without the right: the deliveries will tell
            log.debug("could not read %s from Zabbix: %s", INSTANCE_MACRO, exc)
            return
        if value:  # not set, or not visible to this user: the deliveries will tell
            instances.seen_in(value, f"Zabbix's {INSTANCE_MACRO} macro")

    def _body(self, kind: str, p: Problem, acknowledged_at: datetime | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "schema": "bridge.zabbix.v1",
            "kind": kind,
            "origin": ORIGIN,
            "zabbix": {"instance": self.instance, "url": self.zabbix_url},
            "event": {
                "id": p.event_id,
                "source": "0",
                "value": "1",
                "status": "PROBLEM",
                "name": p.name,
                "nseverity": str(p.nseverity),
                "timestamp": str(int(p.started_at.timestamp())),
                "ack_status": "Yes" if p.acknowledged else "No",
                "tags": p.tags,
                "recovery": {"id": None, "timestamp": None},
            },
            "trigger": {"id": p.trigger_id},
            "host": {"host": p.host, "name": p.host_name, "groups": p.host_groups},
        }
        if acknowledged_at is not None:
            body["update"] = {
                "action": "acknowledged",
                "message": "",
                "user": "Zabbix (found by reconciliation)",
                "timestamp": str(int(acknowledged_at.timestamp())),
            }
        return body

    def _recovery(self, row: AlertRow, problem: Problem | None, now: datetime) -> dict[str, Any]:
        recovery_id = problem.recovery_event_id if problem else None
        resolved_at = problem.resolved_at if problem and problem.resolved_at else now
        labels = dict(row.labels)
        return {
            "schema": "bridge.zabbix.v1",
            "kind": "recovery",
            "origin": ORIGIN,
            "zabbix": {"instance": self.instance, "url": self.zabbix_url},
            "event": {
                "id": row.source_ref,
                "source": "0",
                "value": "0",
                "status": "RESOLVED",
                "name": row.name,
                "nseverity": _nseverity(row.severity),
                "timestamp": str(int(row.starts_at.timestamp())),
                "tags": [{"tag": k, "value": v} for k, v in labels.items() if k not in _RESERVED],
                # a problem gone from Zabbix altogether gets a made-up recovery id, its own idempotency key
                "recovery": {
                    "id": recovery_id or f"gone-{int(now.timestamp())}",
                    "timestamp": str(int(resolved_at.timestamp())),
                },
            },
            "trigger": {"id": labels.get("trigger_id", "")},
            "host": {
                "host": row.host,
                "name": labels.get("host_name", row.host),
                "groups": labels.get("host_groups", ""),
            },
        }


class AlertmanagerReconciler:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Clock,
        client: AlertmanagerClient,
        intake: IntakeService,
    ) -> None:
        self.grace = settings.alertmanager_resolve_grace
        self.sessions = sessions
        self.clock = clock
        self.client = client
        self.intake = intake

    def run(self) -> Reconciled:
        current = [a for a in self.client.alerts() if a.get("status", {}).get("state") != "unprocessed"]
        now = self.clock.now()
        present = {f"alertmanager:{a['fingerprint']}": a for a in current}
        missed: list[dict[str, Any]] = []
        gone: list[dict[str, Any]] = []
        with self.sessions() as session, session.begin():
            known = _rows(session, list(present))
            for fingerprint, alert in present.items():
                row = known.get(fingerprint)
                starts_at = parse_instant(alert["startsAt"])
                if row is None or starts_at > row.starts_at:  # never seen, or fired again unseen
                    missed.append(_firing(alert))
                elif row.missing_since is not None:
                    row.missing_since = None  # back (or never really gone)
            firing = session.scalars(
                select(AlertRow).where(
                    AlertRow.source == Source.ALERTMANAGER, AlertRow.status == Status.FIRING
                )
            )
            for row in firing:
                if row.fingerprint in present:
                    continue
                if row.missing_since is None:
                    row.missing_since = now
                elif now - row.missing_since >= self.grace:
                    gone.append(_resolved(row, now))
        for alerts in (missed, gone):
            if alerts:
                body = {
                    "version": "4",
                    "status": "firing" if alerts is missed else "resolved",
                    "receiver": "bridge",
                    "origin": ORIGIN,
                    "alerts": alerts,
                    "groupKey": f"reconciliation:{iso(now)}",
                }
                self.intake.store(Source.ALERTMANAGER, json.dumps(body).encode())
        return Reconciled(found=len(missed), resolved=len(gone), deliveries=bool(missed) + bool(gone))


def _firing(alert: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": alert.get("labels", {}),
        "annotations": alert.get("annotations", {}),
        "startsAt": alert["startsAt"],
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": alert.get("generatorURL", ""),
        "fingerprint": alert["fingerprint"],
    }


def _resolved(row: AlertRow, now: datetime) -> dict[str, Any]:
    return {
        "status": "resolved",
        "labels": row.labels,
        "annotations": row.annotations,
        "startsAt": iso(row.starts_at),
        "endsAt": iso(now),
        "generatorURL": row.url,
        "fingerprint": row.source_ref,
    }


_RESERVED = {"host", "host_name", "trigger_id", "host_groups", "zabbix_instance", "host_ip", TEST_LABEL}
_NSEVERITY = {"critical": "5", "high": "4", "average": "3", "warning": "2", "info": "1"}


def _nseverity(severity: str) -> str:
    return _NSEVERITY.get(severity, "2")


def _rows(session: Session, fingerprints: list[str]) -> dict[str, AlertRow]:
    rows: dict[str, AlertRow] = {}
    for start in range(0, len(fingerprints), _CHUNK):
        chunk = fingerprints[start : start + _CHUNK]
        for row in session.scalars(select(AlertRow).where(AlertRow.fingerprint.in_(chunk))):
            rows[row.fingerprint] = row
    return rows


def person_acknowledged_at(problem: Problem) -> datetime | None:
    """When a person acknowledged the problem in Zabbix, if its last (un)acknowledgement was a
    person's: None when bridge wrote it (its message says so), or it was acknowledged by none."""
    last = None
    for update in problem.acknowledges:
        if update.action & (ACKNOWLEDGE | UNACKNOWLEDGE):
            last = update
    if last is None or not last.action & ACKNOWLEDGE or from_bridge(last.message):
        return None
    return last.at


def _back_to_work(session: Session, numbers: set[int]) -> dict[int, datetime]:
    """When each of these incidents was last reopened or rejected: an acknowledgement made in
    Zabbix before then was answered by that, and acknowledges it no more."""
    if not numbers:
        return {}
    kinds = [VERBS[IncidentAction.REOPEN], VERBS[IncidentAction.REJECT]]
    query = (
        select(TimelineEntry.incident_number, func.max(TimelineEntry.at))
        .where(TimelineEntry.incident_number.in_(sorted(numbers)), TimelineEntry.kind.in_(kinds))
        .group_by(TimelineEntry.incident_number)
    )
    return {number: at for number, at in session.execute(query)}


def _open_incidents(session: Session, numbers: list[int | None]) -> set[int]:
    wanted = sorted({n for n in numbers if n is not None})
    if not wanted:
        return set()
    query = select(Incident.number).where(Incident.number.in_(wanted), Incident.status == IncidentStatus.OPEN)
    return set(session.scalars(query))

"""Rows and results to JSON-able dicts: the only place that decides what the API, the pages and
the CLI's --json show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from bridge.db.models import (
    AlertmanagerSilence,
    AlertRow,
    Incident,
    Intake,
    Notification,
    OncallOverride,
    OutboxJob,
    SilenceRow,
    TimelineEntry,
    User,
)
from bridge.db.queries import Page
from bridge.dedup.state import describe_alert
from bridge.integrations.channels import shown_address
from bridge.schedule.rotation import OnDuty
from bridge.services.incidents import IncidentDetail
from bridge.services.live import LiveRota, LiveRules
from bridge.services.mail_links import hide_link_tokens
from bridge.services.oncall import ComingShifts, OnCallNow
from bridge.services.reports import SlaRow
from bridge.services.silences import state_of as silence_state
from bridge.ticketing.lifecycle import allowed_actions
from bridge.ticketing.roles import Person
from bridge.ticketing.rota import Rota
from bridge.timeutil import iso

T = TypeVar("T")


def page_json(page: Page[T], item_json: Callable[[T], dict[str, Any]]) -> dict[str, Any]:
    """A page of a list: its items, how many there are in all, and which page it is."""
    return {
        "items": [item_json(item) for item in page.items],
        "total": page.total,
        "limit": page.paging.limit,
        "offset": page.paging.offset,
    }


def incident_detail_json(detail: IncidentDetail) -> dict[str, Any]:
    """One incident with its alerts, related alerts, timeline, silences and notifications."""
    body = incident_json(detail.incident)
    body["alerts"] = [alert_json(a) for a in detail.alerts]
    body["related"] = [alert_json(a) for a in detail.related]
    body["timeline"] = [timeline_json(t) for t in detail.timeline]
    body["silences"] = [silence_json(s) for s in detail.silences]
    body["notifications"] = [notification_json(n) for n in detail.notifications]
    return body


def incident_json(incident: Incident) -> dict[str, Any]:
    return {
        "number": incident.number,
        "title": incident.title,
        "status": incident.status,
        "priority": incident.priority,
        "group_key": incident.group_key,
        "rule": incident.rule,
        "source": incident.source,
        "host": incident.host,
        "alert_count": incident.alert_count,
        "occurrence_count": incident.occurrence_count,
        "reopen_count": incident.reopen_count,
        "first_alert_at": iso(incident.first_alert_at),
        "last_alert_at": iso(incident.last_alert_at),
        "opened_at": iso(incident.opened_at),
        "acknowledged_at": iso(incident.acknowledged_at),
        "resolved_at": iso(incident.resolved_at),
        "closed_at": iso(incident.closed_at),
        "updated_at": iso(incident.updated_at),
        "route": incident.route,
        "client": incident.client,
        "flapping": incident.flapping,
        "type": incident.type,
        "description": incident.description,
        "reporter": incident.reporter,
        "assignee": incident.assignee,
        "line": incident.line,
        "policy": incident.policy,
        "escalation": {"step": incident.escalation_step, "round": incident.escalation_round},
        "ack_due_at": iso(incident.ack_due_at),
        "resolve_due_at": iso(incident.resolve_due_at),
        "ack_breached_at": iso(incident.ack_breached_at),
        "resolve_breached_at": iso(incident.resolve_breached_at),
        "return_count": incident.return_count,
        "stale_from": incident.stale_from,
        "worked_at": iso(incident.worked_at),
        "actions": [a.value for a in allowed_actions(incident.status)],
    }


def alert_json(row: AlertRow) -> dict[str, Any]:
    return {
        "fingerprint": row.fingerprint,
        "source": row.source,
        "source_ref": row.source_ref,
        "name": row.name,
        "host": row.host,
        "severity": row.severity,
        "status": row.status,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "occurrences": row.occurrences,
        "rule": row.rule,
        "group_key": row.group_key,
        "decision": row.disposition,
        "reason": describe_alert(row.disposition, row.reason, row.incident_number, row.rule, row.status),
        "incident": row.incident_number,
        "labels": row.labels,
        "annotations": row.annotations,
        "url": row.url,
        "first_seen_at": iso(row.first_seen_at),
        "last_event_at": iso(row.last_event_at),
    }


def timeline_json(entry: TimelineEntry) -> dict[str, Any]:
    return {
        "at": iso(entry.at),
        "actor": entry.actor,
        "kind": entry.kind,
        "text": entry.text,
        "fingerprint": entry.fingerprint,
        "via": entry.via,
    }


def intake_json(row: Intake) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "received_at": iso(row.received_at),
        "alert_count": row.alert_count,
        "status": row.status,
        "attempts": row.attempts,
        "error": row.error,
        "processed_at": iso(row.processed_at),
    }


def silence_json(silence: AlertmanagerSilence) -> dict[str, Any]:
    return {
        "silence_id": silence.silence_id,
        "fingerprint": silence.fingerprint,
        "ends_at": iso(silence.ends_at),
        "expired_at": iso(silence.expired_at),
    }


def silence_row_json(row: SilenceRow, now: datetime) -> dict[str, Any]:
    return {
        "id": row.id,
        "matchers": row.matchers,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "author": row.author,
        "comment": row.comment,
        "created_at": iso(row.created_at),
        "expired_at": iso(row.expired_at),
        "state": silence_state(row, now),
    }


def outbox_json(job: OutboxJob) -> dict[str, Any]:
    return {
        "id": job.id,
        "kind": job.kind,
        "incident": job.incident_number,
        "status": job.status,
        "attempts": job.attempts,
        "next_attempt_at": iso(job.next_attempt_at),
        "last_error": job.last_error,
        "created_at": iso(job.created_at),
        "done_at": iso(job.done_at),
        "payload": job.payload,
    }


def notification_json(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "incident": row.incident_number,
        "person": row.person,
        "channel": row.channel,
        "address": shown_address(row.channel, row.address),  # a webhook URL is a secret
        "kind": row.kind,
        "subject": row.subject,
        "body": hide_link_tokens(row.body),  # a mail's action links act as its recipient
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_error": row.last_error,
        "created_at": iso(row.created_at),
        "sent_at": iso(row.sent_at),
    }


def on_duty_json(schedule: str, duty: OnDuty | None, rota: Rota) -> dict[str, Any]:
    if duty is None:
        return {"schedule": schedule, "person": None}
    return {
        "schedule": schedule,
        "person": duty.person,
        "name": rota.display(duty.person),
        "layer": duty.layer,
        "override": duty.override,
        "shift_start": iso(duty.shift_start),
        "shift_end": iso(duty.shift_end),
    }


def sla_row_json(row: SlaRow) -> dict[str, Any]:
    return {
        "client": row.client,
        "priority": row.priority,
        "count": row.count,
        "acknowledged": row.acknowledged,
        "resolved": row.resolved,
        "time_to_acknowledge": {"median_seconds": row.ack_median, "p90_seconds": row.ack_p90},
        "time_to_resolve": {"median_seconds": row.resolve_median, "p90_seconds": row.resolve_p90},
        "breaches": {
            "acknowledge": row.ack_breaches,
            "resolve": row.resolve_breaches,
            "incidents": [
                {
                    "number": b.number,
                    "title": b.title,
                    "target": b.target,
                    "due_at": iso(b.due_at),
                    "done_at": iso(b.done_at),
                    "assignee": b.assignee,
                }
                for b in row.breaches
            ],
        },
    }


def on_call_json(now: OnCallNow, status: LiveRota) -> dict[str, Any]:
    """Who is on duty per schedule, who would own a new incident of each client, and the rota."""
    rota = now.rota
    owners = {
        client or "(no client)": None
        if found is None
        else {"person": found.person, "name": rota.display(found.person), "why": found.why}
        for client, found in now.responsible.items()
    }
    return {
        "at": iso(now.at),
        "timezone": str(rota.tz),
        "schedules": [on_duty_json(d.schedule, d.duty, rota) for d in now.duties],
        "responsible": owners,
        "rota": rota_status_json(status),
    }


def shifts_json(found: ComingShifts) -> dict[str, list[dict[str, Any]]]:
    return {name: [on_duty_json(name, s, found.rota) for s in spans] for name, spans in found.shifts.items()}


def rota_status_json(live: LiveRota) -> dict[str, Any]:
    """The rota in force: its version, what it holds, the last refused reload."""
    error = live.last_error
    return {
        "version": live.rota.version,
        "file": str(live.path),
        "loaded_at": iso(live.loaded_at),
        "people": len(live.rota.people),
        "schedules": list(live.rota.schedules),
        "policies": list(live.rota.policies),
        "last_error": None if error is None else [str(p) for p in error.problems],
        "last_error_at": iso(live.last_error_at),
    }


def override_json(row: OncallOverride) -> dict[str, Any]:
    return {
        "id": row.id,
        "schedule": row.schedule,
        "person": row.person,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "reason": row.reason,
        "author": row.author,
        "created_at": iso(row.created_at),
        "cancelled_at": iso(row.cancelled_at),
    }


def rules_json(live: LiveRules, now: datetime) -> dict[str, Any]:
    """The rules in force, their version (content hash) and load time, and the last refused reload."""
    ruleset = live.engine.rules
    error = live.last_error
    return {
        "version": ruleset.version,
        "loaded_at": iso(live.loaded_at),
        "files": sorted(ruleset.files),
        "rules": [
            {
                "name": r.name,
                "file": r.file,
                "line": r.line,
                "kind": r.kind.value,
                "action": r.action.value,
                "match": [str(m) for m in r.matchers],
                "continue": r.proceed,
            }
            for r in ruleset.rules
        ],
        "maintenance": [
            {
                "name": m.name,
                "file": m.file,
                "line": m.line,
                "timezone": str(m.tz),
                "match": [str(x) for x in m.matchers],
                "active_until": iso(m.until_any(now)),
            }
            for m in ruleset.maintenance
        ],
        "last_error": None if error is None else [str(p) for p in error.problems],
        "last_error_at": iso(live.last_error_at),
    }


def person_json(person: Person) -> dict[str, Any]:
    """Who is acting: what the console shows in its corner and decides its buttons by."""
    return {
        "handle": person.handle,
        "name": person.name,
        "role": person.role.value,
        "client": person.client,
        "locale": person.locale,
    }


def user_json(user: User) -> dict[str, Any]:
    """A user as an admin sees them (never the password's hash)."""
    return {
        "handle": user.handle,
        "name": user.name,
        "role": str(user.role),
        "client": user.client,
        "locale": user.locale,
        "has_password": user.password_hash is not None,
        "disabled_at": iso(user.disabled_at),
        "created_at": iso(user.created_at),
        "password_changed_at": iso(user.password_changed_at),
    }

"""Rows to JSON-able dicts for the API: the only place that decides what the API shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.alert import Status
from bridge.dedup.state import Disposition, describe_alert
from bridge.ticketing.lifecycle import IncidentStatus, allowed_actions
from bridge.ticketing.models import (
    AlertmanagerSilence,
    AlertRow,
    Incident,
    Intake,
    OutboxJob,
    SilenceRow,
    TimelineEntry,
)
from bridge.ticketing.silences import state_of as silence_state
from bridge.timeutil import iso


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
        "actions": [a.value for a in allowed_actions(IncidentStatus(incident.status))],
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
        "reason": describe_alert(
            Disposition(row.disposition), row.reason, row.incident_number, row.rule, Status(row.status)
        ),
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

"""Writing an incident's timeline: one entry per thing that happened, with who, when and what.
Entries are only ever added, never changed or deleted: they are the audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bridge.db.models import TimelineEntry
from bridge.ticketing.lifecycle import SYSTEM_ACTOR


def add_entry(
    session: Session,
    incident_number: int,
    at: datetime,
    kind: str,
    text: str,
    *,
    actor: str = SYSTEM_ACTOR,
    fingerprint: str | None = None,
    via: str | None = None,
) -> None:
    """Add one timeline entry to the caller's transaction (bridge itself is the default actor);
    `via` names the channel a person acted by when it was not the console or the API."""
    session.add(
        TimelineEntry(
            incident_number=incident_number,
            at=at,
            actor=actor,
            kind=kind,
            text=text,
            fingerprint=fingerprint,
            via=via,
        )
    )

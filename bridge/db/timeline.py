"""Writing an incident's timeline: one entry per thing that happened, with who, when and what.
Entries are only ever added, never changed or deleted: they are the audit trail.

A transaction that writes many entries (the worker deciding a batch: an entry per alert
attached, resolved, updated...) can keep them (`buffer`) and have them written together just
before it commits, in one statement (`bridge.db.bulk`): the ORM's flush would send them as long
multi-row INSERTs with RETURNING, which psycopg parses anew each time. Every entry of such a
transaction is kept, so their order (the timeline's, by id) is the order they were added in.
Nothing may read the timeline in such a transaction: what it added is not written yet.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, event
from sqlalchemy.orm import Session

from bridge.db import per_transaction
from bridge.db.bulk import insert_columns
from bridge.db.models import TimelineEntry
from bridge.ticketing.lifecycle import SYSTEM_ACTOR

_BUFFER = per_transaction.key("bridge.timeline_buffer")
_TABLE = cast(Table, TimelineEntry.__table__)
_COLUMNS = ("incident_number", "at", "actor", "kind", "text", "fingerprint", "via")
"""An entry as `add_entry` keeps it: a tuple of these columns' values."""


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
    entry = (incident_number, at, actor, kind, text, fingerprint, via)
    kept: list[tuple[Any, ...]] | None = session.info.get(_BUFFER)
    if kept is not None:
        kept.append(entry)
        return
    session.add(TimelineEntry(**dict(zip(_COLUMNS, entry, strict=True))))


def buffer(session: Session) -> None:
    """Keep the entries this transaction adds and write them just before it commits."""
    session.info.setdefault(_BUFFER, [])


def write_buffered(session: Session) -> None:
    """Write the entries kept so far (in the order they were added), and keep the next ones."""
    kept: list[tuple[Any, ...]] | None = session.info.get(_BUFFER)
    if kept:
        insert_columns(session, _TABLE, dict(zip(_COLUMNS, zip(*kept, strict=True), strict=True)))
        kept.clear()


@event.listens_for(Session, "before_commit")
def _write_kept(session: Session) -> None:
    if _BUFFER in session.info:
        write_buffered(session)
        del session.info[_BUFFER]

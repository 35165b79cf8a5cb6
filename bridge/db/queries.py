"""Query helpers shared by the services: paging with a total, case-insensitive search, and
claiming due work with a lease."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, Select, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from bridge.alert import BIGINT_MAX
from bridge.db.models import Notification, OutboxJob

T = TypeVar("T")
Leased = TypeVar("Leased", OutboxJob, Notification)


MAX_ID = BIGINT_MAX
"""The largest id or incident number a column holds (BIGINT; SQLite's INTEGER is as wide): a
larger one names nothing, and must never reach the database, which would refuse it."""

LIKE_ESCAPE = "\\"
"""What makes the next character of a LIKE pattern literal."""


def among(session: Session, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(array)`, one parameter: the statement's
    text is then the same however many values there are (psycopg parses a statement too long for
    its cache, such as a 500-value IN list, anew every time)."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(
            ColumnElement[bool], column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
        )
    return cast(ColumnElement[bool], column.in_(values))


def can_exist(number: int) -> bool:
    """`number` could be a stored id or incident number (1 ... MAX_ID)."""
    return 0 < number <= MAX_ID


@dataclass(frozen=True, slots=True)
class Paging:
    """Which page of a list: at most `limit` items, after skipping `offset`."""

    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list, and how many items the whole list holds."""

    items: list[T]
    total: int
    paging: Paging


def paged(session: Session, statement: Select[Any], order_by: list[Any], paging: Paging) -> Page[Any]:
    """One page of `statement`'s rows in `order_by` order, and how many rows there are in all."""
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = statement.order_by(*order_by).limit(paging.limit).offset(paging.offset)
    return Page(list(session.scalars(rows)), total, paging)


def contains(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, ignoring case; `%` and `_` in it are themselves, not
    wildcards."""
    literal = "".join(LIKE_ESCAPE + c if c in (LIKE_ESCAPE, "%", "_") else c for c in text.lower())
    pattern = f"%{literal}%"
    return or_(*(func.lower(column).like(pattern, escape=LIKE_ESCAPE) for column in columns))


def claim_due(
    session: Session, model: type[Leased], now: datetime, lease: timedelta, limit: int
) -> list[Leased]:
    """Rows of `model` due by `now` (pending, or running with an expired lease: their worker
    died), marked running under a lease of `lease` with one more attempt counted. Claimed with
    SKIP LOCKED, so that several workers never take one row at once."""
    query = (
        select(model)
        .where(
            model.next_attempt_at <= now,
            or_(model.status == "pending", (model.status == "running") & (model.lease_until < now)),
        )
        .order_by(model.next_attempt_at, model.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = list(session.scalars(query))
    for row in claimed:
        row.status = type(row.status)("running")  # each model's own status enum says running
        row.lease_until = now + lease
        row.attempts += 1
    return claimed

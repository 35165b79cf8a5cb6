"""Query helpers shared by the services: paging with a total, case-insensitive search, and
claiming due work with a lease."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from bridge.db.models import Notification, OutboxJob

T = TypeVar("T")
Leased = TypeVar("Leased", OutboxJob, Notification)


def paged(
    session: Session, statement: Select[Any], order_by: list[Any], limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of `statement`'s rows in `order_by` order, and how many rows there are in all."""
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = list(session.scalars(statement.order_by(*order_by).limit(limit).offset(offset)))
    return rows, total


def contains(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns` contains `text`, ignoring case."""
    pattern = f"%{text.lower()}%"
    return or_(*(func.lower(column).like(pattern) for column in columns))


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
        row.status = "running"
        row.lease_until = now + lease
        row.attempts += 1
    return claimed

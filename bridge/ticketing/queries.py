"""Listing helpers shared by the services: paging with a total, and case-insensitive search."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

T = TypeVar("T")


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

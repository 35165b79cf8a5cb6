"""Database helpers for tests."""

from __future__ import annotations

from bridge.db.engine import create_db_engine
from bridge.db.models import Base


def empty_database(url: str) -> None:
    """Delete every row, children first (works on SQLite and PostgreSQL alike)."""
    engine = create_db_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    engine.dispose()

"""Writing many rows of one table at once, in one statement whatever their number.

On PostgreSQL the rows go as one array per column (`INSERT ... SELECT FROM unnest(...)`): one
statement, one round trip, a few parameters, so psycopg neither parses a statement whose length
grows with the rows (a multi-row VALUES) nor sends one prepared execution per row (an
executemany). Rows are inserted in the order given (their ids follow it). On SQLite, in process,
an executemany of one short statement is as fast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert `rows` (dicts with the same keys, column names) into `table`. With `conflict` (the
    columns of a unique constraint), a row whose key is already there updates its `update`
    columns instead (the rows' keys must be distinct)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        statement = sqlite.insert(table)
        if conflict:
            statement = statement.on_conflict_do_update(
                index_elements=[table.c[c] for c in conflict],
                set_={c: statement.excluded[c] for c in update},
            )
        session.execute(statement, list(rows))
        return
    names = list(rows[0])
    arrays = [
        bindparam(f"c{n}", [row[name] for row in rows], type_=ARRAY(table.c[name].type))
        for n, name in enumerate(names)
    ]  # psycopg's dialect casts each to its array type
    source = func.unnest(*arrays).table_valued(*names).render_derived(name="v")
    upsert = postgresql.insert(table).from_select(names, select(*source.c))
    if conflict:
        upsert = upsert.on_conflict_do_update(
            index_elements=[table.c[c] for c in conflict], set_={c: upsert.excluded[c] for c in update}
        )
    session.execute(upsert)

"""Writing many rows of one table at once, in one statement whatever their number.

On PostgreSQL the rows go as one array per column (`INSERT ... SELECT FROM unnest(...)`): one
statement, one round trip, a few parameters, so psycopg neither parses a statement whose length
grows with the rows (a multi-row VALUES) nor sends one prepared execution per row (an
executemany). The arrays go in PostgreSQL's binary format: psycopg writes a text array in Python,
quoting element by element, some 10 times slower (for timestamps 15) than the binary one (a batch
opening 2,000 incidents writes 8,000 timeline entries and 10,000 timers). Rows are inserted in
the order given (their ids follow it). On SQLite, in process, an executemany of one short
statement is as fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, TypeVar, cast

from sqlalchemy import JSON, Engine, Table, Text, bindparam, event, func, select, text
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import flag_modified, instance_state

M = TypeVar("M", bound=DeclarativeBase)

_BINARY_ARRAYS = "bridge_binary_arrays"
"""Execution option: psycopg sends this statement's list parameters as binary arrays."""


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
    if rows:
        columns = {name: [row[name] for row in rows] for name in rows[0]}
        insert_columns(session, table, columns, conflict=conflict, update=update)


def insert_columns(
    session: Session,
    table: Table,
    columns: Mapping[str, Sequence[Any]],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """`insert_rows` for rows given column by column: each column name with its values, one per
    row (all of the same length)."""
    names = list(columns)
    if not names or not columns[names[0]]:
        return
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        statement = sqlite.insert(table)
        if conflict:
            statement = statement.on_conflict_do_update(
                index_elements=[table.c[c] for c in conflict],
                set_={c: statement.excluded[c] for c in update},
            )
        rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
        session.execute(statement, rows)
        return
    arrays = []
    for n, name in enumerate(names):
        column_type = table.c[name].type
        if isinstance(column_type, JSON):  # as text: a list value would be read as an array's dimension
            texts = [None if v is None and column_type.none_as_null else json.dumps(v) for v in columns[name]]
            arrays.append(bindparam(f"c{n}", texts, type_=ARRAY(Text)))
        else:
            arrays.append(bindparam(f"c{n}", list(columns[name]), type_=ARRAY(column_type)))
    # psycopg's dialect casts each array to its type
    source = func.unnest(*arrays).table_valued(*names).render_derived(name="v")
    values = [
        sql_cast(source.c[name], table.c[name].type)
        if isinstance(table.c[name].type, JSON)
        else source.c[name]
        for name in names
    ]
    upsert = postgresql.insert(table).from_select(names, select(*values))
    if conflict:
        upsert = upsert.on_conflict_do_update(
            index_elements=[table.c[c] for c in conflict], set_={c: upsert.excluded[c] for c in update}
        )
    session.execute(upsert, execution_options={_BINARY_ARRAYS: True})


def unstored(model: type[M], **values: Any) -> M:
    """A new object whose row `insert_unstored` will write, never one the session flushes: its
    attributes are set as they are, without the ORM's change tracking, some 20 times cheaper
    than the model's constructor (a batch opening 2,000 incidents builds 2,000 incidents and
    links), and those not given hold what the row will (the column's constant default, or None):
    reading an attribute never set would go through the ORM's slow path for a missing value
    each time. A column whose default only the ORM computes (a callable, or the server's) must
    be given. Reading and changing them afterwards works as on any object."""
    return _made(model, {**_unset_values(model), **values})


def fresh(model: type[M], **values: Any) -> M:
    """A new object for the session to insert (add it), its attributes set as they are, without
    the ORM's change tracking: the flush writes a new object's row from its attributes as they
    stand, whatever their history, and columns not given get their defaults there. Some 10 times
    cheaper than the constructor and attribute by attribute setting (a batch of a storm makes
    2,000 alerts and groups); changing it afterwards works as on any object."""
    return _made(model, values)


def _made(model: type[M], values: Mapping[str, Any]) -> M:
    """An instance of `model` holding `values`, made without its constructor."""
    model.registry.configure()  # as a constructor does: a first object made here could not be changed
    new: M = model.__mapper__.class_manager.new_instance()
    new.__dict__.update(values)
    return new


def insert_unstored(
    session: Session, model: type[DeclarativeBase], objects: Sequence[DeclarativeBase]
) -> None:
    """Insert the rows of these objects of `model`, never added to a session, in one statement,
    read column by column (`insert_columns`): the rows the ORM's INSERT would store, their
    attributes as they stand and, for one never set, the column's constant default (or None)."""
    if objects:
        attributes = [o.__dict__ for o in objects]
        columns = {name: [a.get(key, unset) for a in attributes] for key, name, unset in _columns(model)}
        for key, name, unset in _columns(model):
            if unset is _GIVEN and any(value is _GIVEN for value in columns[name]):
                raise TypeError(
                    f"{model.__name__}.{key} has a default only the ORM's own INSERT computes: give it"
                )
        insert_columns(session, cast(Table, model.__table__), columns)


@cache
def _columns(model: type[DeclarativeBase]) -> tuple[tuple[str, str, Any], ...]:
    """A model's columns as (attribute, column name, value when the attribute was never set:
    `_GIVEN` for a column whose default only the ORM's own INSERT computes)."""
    found = []
    for attribute in model.__mapper__.column_attrs:
        column = attribute.columns[0]
        default = column.default
        if column.server_default is not None or (default is not None and not default.is_scalar):
            found.append((attribute.key, column.name, _GIVEN))
        else:
            found.append((attribute.key, column.name, getattr(default, "arg", None)))
    return tuple(found)


@cache
def _unset_values(model: type[DeclarativeBase]) -> dict[str, Any]:
    """What `unstored` sets the attributes not given to: their rows' values."""
    return {key: unset for key, _, unset in _columns(model) if unset is not _GIVEN}


_GIVEN: Any = object()
"""The attribute must be given (`unstored`): its column's default is one only the ORM computes."""


@event.listens_for(Engine, "before_cursor_execute")
def _binary_arrays(
    connection: Any,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    """Lists become binary arrays for this cursor alone (a statement's own cursor: the
    connection's other statements keep psycopg's defaults)."""
    if context is not None and context.execution_options.get(_BINARY_ARRAYS):
        adapters = cursor.adapters  # psycopg's, used through the driver's objects (not imported here)
        adapters.register_dumper(list, adapters.get_dumper(list, "b"))  # "b": psycopg's PyFormat.BINARY


_DRAW_IDS = text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)")


def insert_numbered(
    session: Session, model: type[DeclarativeBase], objects: Sequence[DeclarativeBase]
) -> None:
    """PostgreSQL: `insert_unstored` for a table with one autoincrementing integer primary key,
    `id`: the objects first get their ids from its sequence (one query, in the order given), so
    that they can be `adopt`ed."""
    if objects:
        table = cast(Table, model.__table__).name
        drawn = sorted(session.execute(_DRAW_IDS, {"table": table, "n": len(objects)}).scalars())
        for o, id_ in zip(objects, drawn, strict=True):
            o.id = id_  # type: ignore[attr-defined]
        insert_unstored(session, model, objects)


def adopt(session: Session, objects: Sequence[DeclarativeBase]) -> None:
    """Objects whose rows `insert_numbered` has just written become the
    session's as if it had read them: a query finds these same objects, and a change made to
    them from now on is flushed as an UPDATE."""
    for o in objects:
        make_transient_to_detached(o)
    session.add_all(objects)


def even_out_updates(session: Session, model: type[DeclarativeBase]) -> None:
    """Have the session's next flush update its changed `model` objects in one executemany:
    every one of them is marked changed in every column any of them changed (a column whose
    value did not change is written again as it is).

    The flush groups UPDATEs by the columns they set, and only runs of consecutive objects
    setting the same ones: a storm's last round, where a HostDown alert resolving changes
    other columns than the alerts it inhibited, came out as some 400 executemany calls per
    2,000 alerts, each a round trip of its own (psycopg syncs its pipeline per call)."""
    states = [instance_state(o) for o in session.dirty if isinstance(o, model)]
    if len(states) < 2:
        return
    columns = states[0].mapper.column_attrs.keys()
    changed = set().union(*(state.committed_state for state in states)).intersection(columns)
    for state in states:
        dict_ = state.dict
        for key in changed:
            if key in dict_:
                flag_modified(state.obj(), key)

"""Rows written many at once (`bridge.db.bulk`), timers moved that way, and a transaction's kept
timeline entries: in the order given, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Table, delete, event, select
from sqlalchemy.orm import Session

from bridge.db import timeline, timers
from bridge.db.bulk import adopt, even_out_updates, fresh, insert_numbered, insert_unstored, unstored
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import AlertGroup, AlertRow, Incident, IncidentAlert, TimelineEntry, Timer
from bridge.priority import Priority
from bridge.ticketing.lifecycle import IncidentStatus
from tests.support.db import empty_database

T0 = datetime(2026, 11, 22, tzinfo=UTC)


def _incident(number: int) -> Incident:
    return Incident(
        number=number,
        title=f"incident {number}",
        status=IncidentStatus.OPEN,
        priority=Priority.P3,
        alert_count=0,
        occurrence_count=0,
        opened_at=T0,
        reopen_count=0,
        updated_at=T0,
    )


def test_timers_are_created_and_moved_in_one_go(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        timers.schedule_many(session, {("hold", f"g{i}"): T0 + timedelta(minutes=i) for i in range(3)})
    with sessions() as session, session.begin():
        timers.schedule_many(session, {("hold", "g1"): T0 + timedelta(hours=5), ("stale", "7"): T0})
        timers.schedule_many(session, {})
    with sessions() as session:
        rows = session.execute(select(Timer.kind, Timer.subject, Timer.due_at).order_by(Timer.id)).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("hold", "g0", T0),
        ("hold", "g1", T0 + timedelta(hours=5)),
        ("hold", "g2", T0 + timedelta(minutes=2)),
        ("stale", "7", T0),
    ]


def test_a_fresh_subjects_timers_are_inserted_plainly_and_others_upserted(database_url: str) -> None:
    """A new incident's timers cannot be stored yet: written with a plain INSERT. What is
    cancelled is not written; a subject scheduled at once is fresh no more, and what is deferred
    for it after moves the stored timer (a plain INSERT would hit the unique key)."""
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        timers.schedule(session, "stale", "1", T0)  # stored before: "1" is not fresh
    inserts: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.startswith("INSERT INTO timers"):
            inserts.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    with sessions() as session, session.begin():
        for subject in ("7", "8", "9"):
            timers.fresh_subject(session, subject)
        timers.defer(session, "sla_ack", "7", T0 + timedelta(minutes=1))
        timers.defer(session, "stale", "7", T0 + timedelta(minutes=2))
        timers.defer(session, "sla_ack", "7", T0 + timedelta(minutes=3))  # moved before it is written
        timers.defer(session, "stale", "8", T0)
        timers.cancel_all(session, ["stale"], "8")
        timers.defer(session, "stale", "9", T0)
        timers.schedule(session, "escalation", "9", T0)  # written now: "9" is fresh no more
        timers.defer(session, "escalation", "9", T0 + timedelta(minutes=9))
        timers.defer(session, "stale", "1", T0 + timedelta(minutes=1))
        inserts.clear()
    event.remove(engine, "before_cursor_execute", seen)
    with sessions() as session:
        rows = session.execute(
            select(Timer.kind, Timer.subject, Timer.due_at).order_by(Timer.subject, Timer.kind)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("stale", "1", T0 + timedelta(minutes=1)),
        ("sla_ack", "7", T0 + timedelta(minutes=3)),
        ("stale", "7", T0 + timedelta(minutes=2)),
        ("escalation", "9", T0 + timedelta(minutes=9)),
        ("stale", "9", T0),
    ]
    plain, upserts = ([s for s in inserts if ("ON CONFLICT" in s) is upsert] for upsert in (False, True))
    assert len(plain) == 1 and len(upserts) == 1  # at commit: the fresh ones, then the others


@pytest.mark.parametrize("buffered", [False, True])
def test_kept_timeline_entries_are_written_at_commit_in_order(database_url: str, buffered: bool) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        session.add_all([_incident(1), _incident(2)])
    with sessions() as session, session.begin():
        if buffered:
            timeline.buffer(session)
        for n in range(6):
            timeline.add_entry(session, 1 + n % 2, T0 + timedelta(seconds=n), "note", f"entry {n}", via=None)
        timeline.add_entry(session, 1, T0, "paged", "with a fingerprint", fingerprint="fp", via="telegram")
    with sessions() as session, session.begin():  # kept entries of a rolled-back transaction are gone
        timeline.buffer(session)
        timeline.add_entry(session, 1, T0, "note", "never written")
        session.rollback()
    with sessions() as session:
        rows = session.execute(
            select(
                TimelineEntry.incident_number,
                TimelineEntry.text,
                TimelineEntry.fingerprint,
                TimelineEntry.via,
            ).order_by(TimelineEntry.id)
        ).all()
        assert "bridge.timeline_buffer" not in session.info
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        *((1 + n % 2, f"entry {n}", None, None) for n in range(6)),
        (1, "with a fingerprint", "fp", "telegram"),
    ]


def _columns(row: object, table: Table, but: tuple[str, ...]) -> dict[str, object]:
    return {c.name: getattr(row, c.key) for c in table.columns if c.name not in but}


def test_an_unstored_objects_row_is_the_one_the_orm_would_store(database_url: str) -> None:
    """An object made by `unstored` and written by `insert_unstored` (or made by its constructor
    and written the same way), never added to a session, stores the row
    the ORM's own INSERT stores for its twin: set attributes as they stand after later changes,
    unset ones as the column defaults (or NULL)."""
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    twins = []
    for number, make in ((1, Incident), (2, partial(unstored, Incident)), (3, Incident)):
        incident = make(
            number=number,
            title="twins",
            priority=Priority.P3,
            group_key=f"g{number}",
            alert_count=0,
            opened_at=T0,
            updated_at=T0,
            client="retail",
        )  # status, occurrence_count, type, line... left to their defaults
        incident.ack_due_at = T0 + timedelta(minutes=30)
        incident.escalation_step = None
        incident.alert_count += 3
        link = (IncidentAlert if make is Incident else partial(unstored, IncidentAlert))(
            incident_number=number,
            fingerprint="fp",
            first_attached_at=T0,
            last_attached_at=T0,
            role="related",
        )  # occurrences left to its default
        link.last_attached_at += timedelta(seconds=5)
        twins.append((incident, link))
    with sessions() as session, session.begin():
        session.add_all(twins[0])
    incident, link = twins[1]
    # Never set, read before it is written: what its row will hold.
    assert (incident.status, incident.line, incident.escalation_step, link.occurrences) == (
        "open",
        "L1",
        None,
        1,
    )
    with sessions() as session, session.begin():
        insert_unstored(session, Incident, [incident])
        insert_unstored(session, IncidentAlert, [link])
        for new in twins[2]:
            insert_unstored(session, type(new), [new])
    with sessions() as session:
        incidents = session.scalars(select(Incident).order_by(Incident.number)).all()
        links = session.scalars(select(IncidentAlert).order_by(IncidentAlert.incident_number)).all()
        by_orm, by_unstored, by_constructor = (
            (
                _columns(i, Incident.__table__, ("number", "group_key")),
                _columns(a, IncidentAlert.__table__, ("incident_number",)),
            )
            for i, a in zip(incidents, links, strict=True)
        )
    engine.dispose()
    assert by_unstored == by_orm
    assert by_constructor == by_orm
    by_rows = by_unstored
    assert (
        by_rows[0]["alert_count"] == 3 and by_rows[0]["type"] == "incident" and by_rows[0]["assignee"] is None
    )
    assert by_rows[1]["occurrences"] == 1 and by_rows[1]["role"] == "related"


AWKWARD = [
    "",
    "NULL",
    "null",
    'say "hi"',
    "a,b",
    "{braces}",
    "back\\slash",
    "tab\tand\nnewline",
    "ünï ✓",
    " ",
]


def test_awkward_values_come_back_as_written(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a text or a timestamp holds, the row stored is what was given (PostgreSQL: the
    arrays go in binary, no quoting; SQLite: one executemany)."""
    dumped: list[int] = []
    real = ListBinaryDumper.dump

    def spy(self: ListBinaryDumper, obj: list[object]) -> object:
        dumped.append(len(obj))
        return real(self, obj)

    monkeypatch.setattr(ListBinaryDumper, "dump", spy)
    moscow = timezone(timedelta(hours=3))
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        session.add(_incident(1))
    with sessions() as session, session.begin():
        timeline.buffer(session)
        for n, text in enumerate(AWKWARD):
            at = datetime(2026, 11, 22, 3, 0, n, 123456, tzinfo=moscow)
            timeline.add_entry(
                session, 1, at, "note", text, fingerprint=text or None, via=None if n % 2 else text
            )
        timers.schedule_many(
            session, {("note", text): datetime(2026, 11, 22, 3, tzinfo=moscow) for text in AWKWARD}
        )
    with sessions() as session:
        entries = session.execute(
            select(
                TimelineEntry.at, TimelineEntry.text, TimelineEntry.fingerprint, TimelineEntry.via
            ).order_by(TimelineEntry.id)
        ).all()
        armed = session.execute(select(Timer.subject, Timer.due_at).order_by(Timer.id)).all()
    engine.dispose()
    assert [tuple(e) for e in entries] == [
        (datetime(2026, 11, 22, 0, 0, n, 123456, tzinfo=UTC), text, text or None, None if n % 2 else text)
        for n, text in enumerate(AWKWARD)
    ]
    assert [tuple(a) for a in armed] == [(text, datetime(2026, 11, 22, tzinfo=UTC)) for text in AWKWARD]
    if engine.dialect.name == "postgresql":
        assert dumped and set(dumped) == {len(AWKWARD)}  # every column of both statements, binary


def _alert(fingerprint: str, make: Callable[..., AlertRow] = AlertRow) -> AlertRow:
    return make(
        fingerprint=fingerprint,
        source="alertmanager",
        source_ref=fingerprint,
        name="HostDown",
        host="h1",
        severity="critical",
        status="firing",
        labels={"alertname": "HostDown"},
        annotations={},
        starts_at=T0,
        first_seen_at=T0,
        last_event_at=T0,
        rule="HostDown",
        group_key="g",
        disposition="incident",
    )


def test_rows_written_in_bulk_become_the_sessions(postgres_database: str) -> None:
    """PostgreSQL, as a deciding batch writes its new alerts: ids drawn from the sequence in
    order, the rows inserted in one statement (no RETURNING), then adopted: a query finds these
    same objects, and a change made afterwards is flushed as an UPDATE of that row alone."""
    empty_database(postgres_database)
    engine = create_db_engine(postgres_database)
    sessions = make_session_factory(engine)
    statements: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(conn: object, cursor: object, statement: str, params: object, ctx: object, many: bool) -> None:
        statements.append(statement)

    with sessions() as session, session.begin():
        session.add(_alert("first"))
    with sessions() as session, session.begin():
        new = [_alert(f"fp-{n}", partial(unstored, AlertRow, members=[], origin="")) for n in (3, 1, 2)]
        new[0].occurrences = 5  # changed before it is written: written as it stands
        statements.clear()
        insert_numbered(session, AlertRow, new)
        ids = [row.id for row in new]
        adopt(session, new)
        found = session.scalars(select(AlertRow).where(AlertRow.group_key == "g").order_by(AlertRow.id)).all()
        new[1].reason = "changed once the session's"
        session.flush()
        written = list(statements)
    with sessions() as session:
        stored = session.execute(
            select(AlertRow.id, AlertRow.fingerprint, AlertRow.occurrences, AlertRow.reason).order_by(
                AlertRow.id
            )
        ).all()
    engine.dispose()
    assert ids == sorted(ids) and ids[0] > stored[0].id
    assert found[1:] == new and all(a is b for a, b in zip(found[1:], new, strict=True))
    assert [tuple(r) for r in stored][1:] == [
        (ids[0], "fp-3", 5, ""),
        (ids[1], "fp-1", 1, "changed once the session's"),
        (ids[2], "fp-2", 1, ""),
    ]
    inserts = [s for s in written if s.startswith("INSERT INTO alerts")]
    assert len(inserts) == 1 and "RETURNING" not in inserts[0]
    updates = [s for s in written if s.startswith("UPDATE alerts")]
    assert len(updates) == 1 and "reason" in updates[0]


@pytest.mark.parametrize("evened", [False, True])
def test_evened_out_updates_go_in_one_executemany(database_url: str, evened: bool) -> None:
    """Alerts changed in different columns, in turn (a storm's last round: a HostDown alert
    resolving, then the alerts it inhibited): the flush groups its UPDATEs by the columns they
    set, one run of consecutive rows at a time. Evened out, every row sets the same columns, and
    a column a row did not change keeps its value."""
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        session.add_all([_alert(f"fp-{n}") for n in range(6)])
    updates: list[tuple[str, bool]] = []

    def seen(conn: object, cursor: object, statement: str, params: object, ctx: object, many: bool) -> None:
        if statement.startswith("UPDATE alerts"):
            updates.append((statement, many))

    event.listen(engine, "before_cursor_execute", seen)
    with sessions() as session, session.begin():
        rows = session.scalars(select(AlertRow).order_by(AlertRow.fingerprint)).all()
        for n, row in enumerate(rows):
            if n % 2 == 0:
                row.status, row.ends_at = "resolved", T0 + timedelta(minutes=n)
            else:
                row.reason, row.annotations = f"held {n}", {"value": str(n)}
        rows[5].status = "firing"  # set to what it was: not a change
        if evened:
            even_out_updates(session, AlertRow)
            even_out_updates(session, Incident)  # none changed: nothing to do
    event.remove(engine, "before_cursor_execute", seen)
    with sessions() as session:
        stored = session.execute(
            select(
                AlertRow.fingerprint, AlertRow.status, AlertRow.ends_at, AlertRow.reason, AlertRow.annotations
            ).order_by(AlertRow.fingerprint)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in stored] == [
        (f"fp-{n}", "resolved", T0 + timedelta(minutes=n), "", {})
        if n % 2 == 0
        else (f"fp-{n}", "firing", None, f"held {n}", {"value": str(n)})
        for n in range(6)
    ]
    if evened:
        assert len(updates) == 1 and updates[0][1]  # one executemany for the six rows
        assert all(column in updates[0][0] for column in ("status", "ends_at", "reason", "annotations"))
    else:
        assert len(updates) == 6  # alternating columns: six runs of one row


def test_a_fresh_objects_row_is_the_one_its_constructor_twin_stores(database_url: str) -> None:
    """An object made by `fresh` and added to a session stores the row its twin made by the
    constructor does: given attributes as they stand after later changes, the others as the
    columns' defaults."""
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    twins = [_alert("made"), _alert("fresh", partial(fresh, AlertRow))]
    for twin in twins:
        twin.occurrences = 4  # set again before the flush
    with sessions() as session, session.begin():
        session.add_all(twins)
        session.flush()
        twins[1].reason = "changed after the flush"
        twins[0].reason = "changed after the flush"
    with sessions() as session:
        made, made_fresh = (
            session.scalars(select(AlertRow).where(AlertRow.fingerprint == fp)).one()
            for fp in ("made", "fresh")
        )
        table = AlertRow.__table__
        assert isinstance(table, Table)
        expected = _columns(made, table, but=("id", "fingerprint", "source_ref"))
        assert _columns(made_fresh, table, but=("id", "fingerprint", "source_ref")) == expected
        assert (made_fresh.occurrences, made_fresh.reason, made_fresh.origin, made_fresh.members) == (
            4,
            "changed after the flush",
            "",
            [],
        )
    engine.dispose()


@pytest.mark.parametrize("make", ["fresh", "unstored"])
def test_the_first_object_made_without_its_constructor_can_be_changed(make: str) -> None:
    """A process's first object of a model made by `fresh` or `unstored` (before any query or
    constructor set the mappers up) takes changes like any other."""
    code = (
        f"from bridge.db.bulk import {make}\n"
        "from bridge.db.models import Incident\n"
        f"incident = {make}(Incident, title='first')\n"
        "incident.title = 'changed'\n"
        "print(incident.title)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "changed\n"


_KINDS = ("escalation", "sla_ack", "ack_timeout")
_SUBJECTS = ("1", "2", "3")
_timer_ops = st.lists(
    st.one_of(
        st.tuples(st.just("defer"), st.sampled_from(_KINDS), st.sampled_from(_SUBJECTS), st.integers(0, 5)),
        st.tuples(
            st.just("schedule"), st.sampled_from(_KINDS), st.sampled_from(_SUBJECTS), st.integers(0, 5)
        ),
        st.tuples(
            st.just("cancel"),
            st.lists(st.sampled_from(_KINDS), min_size=1, max_size=3, unique=True).map(tuple),
            st.sampled_from(_SUBJECTS),
            st.just(0),
        ),
        st.tuples(st.just("claim"), st.sampled_from(_KINDS), st.sampled_from(_SUBJECTS), st.integers(0, 5)),
    ),
    max_size=12,
)


def _run_timer_ops(session: Session, ops: list[tuple[str, Any, str, int]]) -> list[object]:
    """Apply `ops` in the caller's transaction; what each claim took."""
    claimed: list[object] = []
    for op, kind, subject, minutes in ops:
        due = T0 + timedelta(minutes=minutes)
        if op == "defer":
            timers.defer(session, kind, subject, due)
        elif op == "schedule":
            timers.schedule(session, kind, subject, due)
        elif op == "cancel":
            timers.cancel_all(session, kind, subject)
        else:
            claimed.append(timers.claim(session, kind, subject, T0 + timedelta(minutes=3)))
    return claimed


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=_timer_ops, ops=_timer_ops)
def test_kept_cancels_leave_the_timers_that_immediate_ones_leave(
    database_url: str, before: list[tuple[str, Any, str, int]], ops: list[tuple[str, Any, str, int]]
) -> None:
    """Cancels kept for the commit (`keep_cancels`) leave the same timers, and claims take the same
    ones, as cancels sent at once, whatever defers, schedules and claims come between."""
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    outcomes = []
    try:
        for keep in (False, True):
            with sessions() as session, session.begin():
                session.execute(delete(Timer))
                _run_timer_ops(session, before)
            with sessions() as session, session.begin():
                if keep:
                    timers.keep_cancels(session)
                claimed = _run_timer_ops(session, ops)
            with sessions() as session:
                rows = session.execute(select(Timer.kind, Timer.subject, Timer.due_at)).all()
            outcomes.append((claimed, sorted(tuple(r) for r in rows)))
    finally:
        engine.dispose()
    assert outcomes[0] == outcomes[1]


def test_kept_cancels_go_in_one_statement_at_commit(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    done = ["escalation", "sla_ack", "sla_resolve"]
    with sessions() as session, session.begin():
        timers.schedule_many(session, {(k, str(n)): T0 for n in range(1500) for k in done})
        timers.schedule(session, "stale", "7", T0)
    deletes: list[str] = []

    def seen(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    with sessions() as session, session.begin():
        timers.keep_cancels(session)
        for n in range(1500):
            timers.cancel_all(session, done, str(n))
        assert deletes == []  # nothing sent yet
    event.remove(engine, "before_cursor_execute", seen)
    with sessions() as session:
        rows = session.execute(select(Timer.kind, Timer.subject)).all()
    engine.dispose()
    assert len(deletes) == 2  # 1,500 incidents' timers: two statements of up to 1,000 subjects
    assert [tuple(r) for r in rows] == [("stale", "7")]


def _group(make: Callable[..., AlertGroup], key: str, storm: dict[str, object] | None) -> AlertGroup:
    return make(
        key=key,
        rule="HostDown",
        title="HostDown on h1",
        firing=2,
        firing_since=T0,
        quiet_since=None,
        occurrences=[T0.isoformat(), (T0 + timedelta(minutes=1)).isoformat()],
        severity="critical",
        changes=[],
        flapping=False,
        last_seen=None,
        storm=storm,
        client=None,
        incident_number=None,
        updated_at=T0,
    )


@pytest.mark.parametrize(
    "storm", [None, {"label": ["job", "node"], "entries": [{"at": "x", "labels": [["a", "b"]]}]}]
)
def test_json_columns_are_written_in_bulk_as_the_orm_writes_them(
    database_url: str, storm: dict[str, object] | None
) -> None:
    """An unstored group, its JSON columns lists (of lists) and a dict or None, stores the row
    its ORM-written twin does (PostgreSQL sends them as text: as arrays, a list would be read as
    one more dimension)."""
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        session.add(_group(AlertGroup, "orm", storm))
        insert_unstored(session, AlertGroup, [_group(partial(unstored, AlertGroup), "bulk", storm)])
    with sessions() as session:
        table = AlertGroup.__table__
        assert isinstance(table, Table)
        rows = {g.key: _columns(g, table, but=("key",)) for g in session.scalars(select(AlertGroup))}
        stored = session.execute(
            select(AlertGroup.key).where(AlertGroup.storm.is_(None)).order_by(AlertGroup.key)
        ).scalars()
        sql_nulls = list(stored)  # JSON null and SQL NULL both read as None: the same one each
    engine.dispose()
    assert rows["bulk"] == rows["orm"]
    assert rows["bulk"]["storm"] == storm
    assert sql_nulls in ([], ["bulk", "orm"])


def test_a_column_whose_default_only_the_orm_computes_must_be_given(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    group = unstored(AlertGroup, key="g", rule="r", title="t", occurrences=[], updated_at=T0)  # no changes
    with sessions() as session, session.begin(), pytest.raises(TypeError, match="changes"):
        insert_unstored(session, AlertGroup, [group])
    engine.dispose()

"""The pipeline's shortcuts for repeats store exactly what the plain path stores: repeats answered
by `Engine.plain_repeat` / `Engine.repeat` without their groups, alerts read as stored states
with ORM objects only for those a batch's events may change (`Pipeline._changing`, or loaded
late), and the inhibiting alerts' index entries kept between batches (re-read by row version on
PostgreSQL), with two workers taking turns on one database (SQLite, then PostgreSQL)."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, select, text

from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import pending_ids, store_delivery
from bridge.db.models import AlertRow, Base, Intake
from bridge.dedup.engine import Engine
from bridge.services.live import LiveRules
from bridge.services.pipeline import InhibitorsKept, Pipeline
from bridge.sources import parse_delivery
from tests.support.app import write_rules
from tests.support.db import empty_database
from tests.support.payloads import am_alert, am_notification, captured

RULES = """
defaults: {resolve_after: 3m, reopen_within: 30m}
rules:
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    priority: P1
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
  - name: drop-info
    match: {severity: info}
    action: drop
  - name: cpu
    match: {name: HighCPU}
    for: 4m
"""

BASE = captured("alertmanager/01-firing-single.json").received_at
HOSTS = ("db-1", "db-2", "app-1")
NAMES = (("HostDown", "critical"), ("HighCPU", "warning"), ("DiskFull", "warning"), ("Chatter", "info"))

Delivery = tuple[bytes, Any]


@st.composite
def streams(draw: st.DrawFn) -> list[Delivery]:
    """Notifications of a few alerts each, re-sent round after round (an annotation changes),
    some alerts resolving and firing again (a new start), a HostDown now and then going away."""
    deliveries = []
    started = {(name, host): 0 for name, _ in NAMES for host in HOSTS}
    at = BASE
    for round_ in range(draw(st.integers(1, 8))):
        at += timedelta(seconds=draw(st.sampled_from([5, 30, 200])))
        chosen = draw(st.lists(st.sampled_from([(n, s, h) for n, s in NAMES for h in HOSTS]), max_size=6))
        alerts = []
        for name, severity, host in dict.fromkeys(chosen):
            status = draw(st.sampled_from(["firing", "firing", "firing", "resolved"]))
            start = BASE + timedelta(seconds=started[(name, host)])
            alert = am_alert(
                name,
                status=status,
                starts_at=start.isoformat(),
                ends_at=at.isoformat() if status == "resolved" else None,
                fingerprint=f"{name}-{host}",
                instance=f"{host}:9100",
                severity=severity,
            )
            alert["annotations"] = {"value": str(round_)}
            alerts.append(alert)
            if status == "resolved":
                started[(name, host)] = int((at - BASE).total_seconds()) + 1  # fires again later
        if alerts:
            deliveries.append((json.dumps(am_notification(*alerts)).encode(), at))
    return deliveries


@contextlib.contextmanager
def plain_path() -> Iterator[None]:
    """The pipeline as before its shortcuts: every event routed and decided with its groups
    (so every alert of a batch gets its ORM object up front), every inhibiting alert computed
    afresh in every batch."""
    with (
        mock.patch.object(Engine, "plain_repeat", lambda *_: None),
        mock.patch.object(Engine, "repeat", lambda *_: None),
        mock.patch.object(InhibitorsKept, "entries", lambda *_: {}),
    ):
        yield


@contextlib.contextmanager
def predictions_missing(chance: random.Random, forgotten: float) -> Iterator[None]:
    """`Pipeline._changing` forgets some of the alerts a batch may change (each with the
    probability `forgotten`; or defers it): their objects must be loaded when a decision needs
    them."""
    predicted = Pipeline._changing

    def forgetful(pipeline: Pipeline, *args: Any) -> tuple[list[str], list[str]]:
        changing, unlikely = predicted(pipeline, *args)
        kept, deferred = [], []
        for fingerprint in changing + unlikely:
            if chance.random() >= forgotten:
                kept.append(fingerprint)
            elif chance.random() < 0.5:
                deferred.append(fingerprint)  # loaded with the others deferred, if one is needed
        return kept, deferred

    with mock.patch.object(Pipeline, "_changing", forgetful):
        yield


def run(
    database_url: str,
    rules_dir: Path,
    deliveries: list[Delivery],
    workers: int,
    turns: list[int] | None = None,
    waits: list[bool] | None = None,
) -> dict[str, list[Any]]:
    """Store and decide the deliveries one by one, the workers taking turns (or the worker
    `turns` names for each); what is stored then. `waits`: those deliveries stay pending and
    are decided in one batch with the next."""
    engine = create_db_engine(database_url)
    emptied(engine)
    sessions = make_session_factory(engine)
    rules = LiveRules(rules_dir)
    clock = FakeClock(BASE)
    pipelines = [Pipeline(sessions, rules, clock) for _ in range(workers)]
    try:
        for n, (raw, received_at) in enumerate(deliveries):
            clock.set(received_at)
            delivery = parse_delivery(Source.ALERTMANAGER, raw, received_at)
            store_delivery(sessions, delivery, raw, received_at)
            if waits is not None and waits[n] and n < len(deliveries) - 1:
                continue
            worker = turns[n] if turns is not None else n % workers
            while pipelines[worker].process_pending().progressed:
                pass
        return stored(engine)
    finally:
        engine.dispose()


def emptied(engine: Any) -> None:
    """No rows, and ids and incident numbers counting from 1 again (texts name incidents)."""
    tables = Base.metadata.sorted_tables
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(table.name for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                connection.execute(table.delete())
            connection.execute(text("DELETE FROM sqlite_sequence"))


TABLES = {
    "alerts": ("fingerprint",),
    "alert_groups": ("key",),
    "incidents": ("number",),
    "incident_alerts": ("incident_number", "fingerprint"),
    "timeline": ("id",),
    "timers": ("kind", "subject", "due_at"),
}


def stored(engine: Any) -> dict[str, list[Any]]:
    """Every row the deciding writes, without the timers' ids (an upsert may take one and not
    use it)."""
    with engine.connect() as connection:
        result: dict[str, list[Any]] = {}
        for name, order in TABLES.items():
            table = Base.metadata.tables[name]
            rows = connection.execute(select(table).order_by(*(table.c[c] for c in order))).mappings()
            result[name] = [
                {key: value for key, value in row.items() if not (name == "timers" and key == "id")}
                for row in rows
            ]
        return result


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=streams())
def test_two_workers_with_the_shortcuts_store_what_the_plain_path_stores(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, deliveries: list[Delivery]
) -> None:
    rules_dir = write_rules(tmp_path_factory.mktemp("rules"), RULES)
    with plain_path():
        expected = run(database_url, rules_dir, deliveries, workers=1)
    assert run(database_url, rules_dir, deliveries, workers=2) == expected


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries=streams(), data=st.data())
def test_alert_objects_loaded_late_store_what_the_plain_path_stores(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    deliveries: list[Delivery],
    data: st.DataObject,
) -> None:
    """Batches of several deliveries (an alert changes, then comes again, in one transaction),
    with some of the alerts the batch may change not foreseen (`predictions_missing`)."""
    waits = data.draw(st.lists(st.booleans(), min_size=len(deliveries), max_size=len(deliveries)))
    rules_dir = write_rules(tmp_path_factory.mktemp("rules"), RULES)
    with plain_path():
        expected = run(database_url, rules_dir, deliveries, workers=1, waits=waits)
    chance = data.draw(st.randoms(use_true_random=False))
    with predictions_missing(chance, data.draw(st.sampled_from([1.0, 0.5]))):
        assert run(database_url, rules_dir, deliveries, workers=2, waits=waits) == expected


def test_a_batch_of_plain_repeats_builds_no_alert_objects(database_url: str, tmp_path: Path) -> None:
    """The storm's repeats (plain ones, and those of alerts inhibited or dropped) are decided
    from the alerts' stored states: ORM objects (with their labels and annotations) only for
    the alerts whose events change them."""
    rules_dir = write_rules(tmp_path / "rules", RULES)
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    clock = FakeClock(BASE)
    pipeline = Pipeline(sessions, LiveRules(rules_dir), clock)
    loaded: list[str] = []

    def notification(at_second: int, resolved: tuple[str, ...] = ()) -> None:
        at = BASE + timedelta(seconds=at_second)
        alerts = []
        for host in HOSTS:
            for name, severity in (("HostDown", "critical"), ("DiskFull", "warning"), ("Chatter", "info")):
                alert = am_alert(
                    name,
                    starts_at=BASE.isoformat(),
                    fingerprint=f"{name}-{host}",
                    instance=f"{host}:9100",
                    severity=severity,
                )
                alert["annotations"] = {"value": str(at_second)}  # a repeat, not a redelivery
                if f"{name}-{host}" in resolved:
                    alert.update(status="resolved", endsAt=at.isoformat())
                alerts.append(alert)
        raw = json.dumps(am_notification(*alerts)).encode()
        clock.set(at)
        store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
        while pipeline.process_pending().progressed:
            pass

    def load(row: AlertRow, _context: object) -> None:
        loaded.append(row.fingerprint)

    event.listen(AlertRow, "load", load)
    try:
        notification(10)  # new: no rows to load
        notification(20)  # repeats
        notification(30, resolved=("HostDown-db-2",))
        # it, and the DiskFull alert it held back, released (decided again)
        assert loaded == ["alertmanager:HostDown-db-2", "alertmanager:DiskFull-db-2"]
        loaded.clear()
        notification(40, resolved=("HostDown-db-2",))
        assert loaded == []
    finally:
        event.remove(AlertRow, "load", load)
        engine.dispose()


def test_an_inhibiting_alert_another_worker_moved_inhibits_where_it_is_now(
    database_url: str, tmp_path: Path
) -> None:
    """Worker A knows a HostDown alert on db-1; worker B sees it resolve and fire again on db-2
    (a new occurrence, a new group); A then holds back the alerts of db-2, not those of db-1."""

    def alert(name: str, host: str, start: int, at: int, resolved: bool = False) -> Delivery:
        firing = am_alert(
            name,
            starts_at=(BASE + timedelta(seconds=start)).isoformat(),
            fingerprint=name,
            instance=f"{host}:9100",
            severity="critical" if name == "HostDown" else "warning",
        )
        if resolved:
            firing.update(status="resolved", endsAt=(BASE + timedelta(seconds=at)).isoformat())
        return json.dumps(am_notification(firing)).encode(), BASE + timedelta(seconds=at)

    deliveries = [
        alert("HostDown", "db-1", 5, 10),  # A
        alert("HighCPU", "db-3", 15, 20),  # A: reads the HostDown alert (on db-1)
        alert("HostDown", "db-1", 5, 30, resolved=True),  # B
        alert("HostDown", "db-2", 35, 40),  # B: on db-2 now
        alert("DiskFull", "db-2", 45, 50),  # A: inhibited by it
    ]
    rules_dir = write_rules(tmp_path / "rules", RULES)
    with plain_path():
        expected = run(database_url, rules_dir, deliveries, workers=1)
    found = run(database_url, rules_dir, deliveries, workers=2, turns=[0, 0, 1, 1, 0])
    assert found == expected
    disk = next(row for row in found["alerts"] if row["fingerprint"].endswith("DiskFull"))
    assert disk["disposition"] == "inhibited"


def test_a_batch_reads_the_values_of_changed_inhibiting_alerts_only(
    postgres_database: str, tmp_path: Path
) -> None:
    """A storm's HostDown alerts are read by every batch: after the first, by row version, and
    the values of those another worker changed meanwhile (and only those) are read again."""
    # PostgreSQL only (row versions are PostgreSQL's; SQLite reads every value in one query).
    empty_database(postgres_database)
    database_url = postgres_database
    rules_dir = write_rules(tmp_path / "rules", RULES)
    hosts = [f"h{i:02d}" for i in range(20)]

    def notification(
        at_second: int, names: tuple[str, ...], hosts: Iterable[str] = hosts, since: int = 5
    ) -> Delivery:
        """The alerts named of `hosts`: HighCPU firing since 0; HostDown firing since `since`,
        or resolved at `at_second` (named "HostDown-resolved")."""
        at = BASE + timedelta(seconds=at_second)
        alerts = []
        for host in hosts:
            for name in names:
                alert = am_alert(
                    name.removesuffix("-resolved"),
                    starts_at=(BASE + timedelta(seconds=0 if name == "HighCPU" else since)).isoformat(),
                    fingerprint=f"{name.removesuffix('-resolved')}-{host}",
                    instance=f"{host}:9100",
                    severity="warning" if name == "HighCPU" else "critical",
                )
                alert["annotations"] = {"value": str(at_second)}  # a repeat, not a redelivery
                if name == "HostDown-resolved":
                    alert.update(status="resolved", endsAt=at.isoformat())
                alerts.append(alert)
        return json.dumps(am_notification(*alerts)).encode(), at

    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    rules = LiveRules(rules_dir)
    clock = FakeClock(BASE)
    first, other = Pipeline(sessions, rules, clock), Pipeline(sessions, rules, clock)
    values_read: list[int] = []

    def count(_conn: object, _cursor: object, statement: str, parameters: Any, *_args: object) -> None:
        if "row_version" in statement and "alerts.labels" in statement:
            values_read.append(len(next(iter(p for p in parameters.values() if isinstance(p, list)), [])))

    event.listen(engine, "before_cursor_execute", count)

    def deliver(pipeline: Pipeline, delivery: Delivery) -> None:
        raw, at = delivery
        clock.set(at)
        store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
        while pipeline.process_pending().progressed:
            pass

    try:
        deliver(first, notification(10, ("HostDown", "HighCPU")))  # 20 HostDown alerts inhibit
        deliver(first, notification(20, ("HighCPU",)))  # repeats: the HostDown alerts' values read
        assert sum(values_read) == len(hosts)
        values_read.clear()
        deliver(first, notification(30, ("HighCPU",)))  # nothing changed since the last batch
        assert values_read == []
        deliver(other, notification(40, ("HostDown-resolved",), ["h03", "h07"]))  # another worker
        values_read.clear()  # (what it read for itself)
        deliver(first, notification(50, ("HighCPU",)))
        assert values_read == []  # they inhibit no longer, and nothing else changed
        firing_again = notification(60, ("HostDown",), ["h03", "h07"], since=55)  # they inhibit again
        deliver(other, firing_again)
        values_read.clear()
        deliver(first, notification(70, ("HighCPU",)))
        assert values_read == [2]  # theirs only
    finally:
        engine.dispose()


def test_the_next_worker_is_given_the_deliveries_after_those_being_decided(
    postgres_database: str, tmp_path: Path
) -> None:
    """While one transaction decides a batch (its intake rows locked FOR UPDATE, as `_process`
    locks them), another worker asking for pending deliveries gets the ones after it: it parses
    those while it waits for the deciding turn, not the batch being decided. The batch's rows
    come back once the deciding transaction ends without deciding them."""
    empty_database(postgres_database)
    engine = create_db_engine(postgres_database)
    sessions = make_session_factory(engine)
    try:
        ids: list[int] = []
        for second in range(6):
            at = BASE + timedelta(seconds=second)
            raw = json.dumps(
                am_notification(am_alert("HighCPU", starts_at=at.isoformat(), fingerprint=f"f{second}"))
            ).encode()
            stored = store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
            assert stored.intake_id is not None
            ids.append(stored.intake_id)
        with sessions() as reading:
            assert pending_ids(reading, 100) == ids
        with sessions() as deciding, deciding.begin():
            locked = select(Intake.id).where(Intake.id.in_(ids[:4])).with_for_update(skip_locked=True)
            assert list(deciding.scalars(locked)) == ids[:4]
            with sessions() as other:
                assert pending_ids(other, 100) == ids[4:]
                assert pending_ids(other, 100, max_alerts=1) == ids[4:5]
            deciding.rollback()
        with sessions() as reading:
            assert pending_ids(reading, 100) == ids  # the lock ends with the transaction
    finally:
        engine.dispose()

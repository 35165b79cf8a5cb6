"""The intake log's weekly partitions on PostgreSQL: created ahead by the periodic job and on
demand by a delivery whose week is missing; an expired week detached concurrently and then
dropped, with what it counted kept in `intake_tallies`; a detach interrupted (a crash, a lock
timeout in its second phase) finalized and dropped by the next prune; and the migration that
removed the default partition keeping every row that was in it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db import retention
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import store_delivery
from bridge.db.migrate import upgrade
from bridge.db.models import Intake, IntakeKey, IntakeTally
from bridge.errors import StorageUnavailable
from bridge.services.retention import Pruner, Retention
from bridge.sources import parse_delivery
from tests.support.payloads import captured
from tests.support.postgres import fresh_database

ON_POSTGRES = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KEEP = Retention(intake=timedelta(days=30), alerts=None, delivered=None)
OLD_WEEK = retention.week_start(NOW - timedelta(days=60))


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


def old_deliveries(sessions: sessionmaker[Session], week: datetime, count: int, status: str = "done") -> None:
    """`count` deliveries received in `week`, with their keys, as bridge stores them."""
    rows = [
        {
            "source": "alertmanager",
            "dedup_key": f"old-{week:%Y%m%d}-{i}",
            "received_at": week + timedelta(hours=1, minutes=i),
            "body": b'{"alerts": []}',
            "alert_count": 2,
            "status": status,
            "attempts": 1,
        }
        for i in range(count)
    ]
    with sessions() as session, session.begin():
        session.execute(insert(Intake), rows)
        session.execute(
            insert(IntakeKey), [{"dedup_key": r["dedup_key"], "received_at": r["received_at"]} for r in rows]
        )


def tables(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        return set(
            session.scalars(
                text("SELECT relname FROM pg_class WHERE relname LIKE 'intake_w%' AND relkind = 'r'")
            )
        )


def tallied(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        deliveries, events = session.execute(
            select(
                func.coalesce(func.sum(IntakeTally.deliveries), 0),
                func.coalesce(func.sum(IntakeTally.events), 0),
            )
        ).one()
        return int(deliveries), int(events)


def autocommit(sessions: sessionmaker[Session]) -> Engine:
    with sessions() as session:
        engine = session.get_bind()
    assert isinstance(engine, Engine)
    return engine


@ON_POSTGRES
def test_an_expired_week_is_detached_concurrently_then_dropped_and_counted(
    sessions: sessionmaker[Session],
) -> None:
    old_deliveries(sessions, OLD_WEEK, 5)
    name = retention.partition_name(OLD_WEEK)
    assert name in tables(sessions)

    result = Pruner(sessions, FakeClock(NOW), KEEP, batch=2).run()

    (intake,) = result.tables
    assert result.finished and intake.rows >= 5 and intake.partitions >= 1
    assert name not in tables(sessions)  # detached and dropped: no table left behind
    with sessions() as session:
        assert retention.detach_pending(session) == [] and retention.detached(session) == []
        assert session.scalar(select(func.count()).select_from(IntakeKey)) == 0
    assert tallied(sessions) == (5, 10)  # what the week counted, for the noise report


@ON_POSTGRES
def test_a_week_still_holding_a_parked_delivery_is_kept_and_only_its_done_rows_go(
    sessions: sessionmaker[Session],
) -> None:
    old_deliveries(sessions, OLD_WEEK, 3)
    with sessions() as session, session.begin():
        session.execute(
            insert(Intake).values(
                source="alertmanager",
                dedup_key="parked",
                received_at=OLD_WEEK + timedelta(days=1),
                body=b"{}",
                alert_count=1,
                status="failed",
                attempts=3,
            )
        )

    Pruner(sessions, FakeClock(NOW), KEEP, batch=2).run()

    assert retention.partition_name(OLD_WEEK) in tables(sessions)
    with sessions() as session:
        assert list(session.scalars(select(Intake.dedup_key))) == ["parked"]


@ON_POSTGRES
def test_a_detach_interrupted_in_its_second_phase_is_finalized_and_dropped_by_the_next_prune(
    sessions: sessionmaker[Session],
) -> None:
    old_deliveries(sessions, OLD_WEEK, 4)
    week = retention.Partition(retention.partition_name(OLD_WEEK), OLD_WEEK)
    engine = autocommit(sessions)
    # A transaction that read the intake log: the detach's second phase waits for it, and gives up.
    with engine.connect() as reader, engine.connect().execution_options(isolation_level="AUTOCOMMIT") as ddl:
        reader.execute(text("SELECT count(*) FROM intake"))
        with pytest.raises(Exception, match="lock timeout"):
            retention.detach_partition(ddl, week, lock_timeout_ms=200)
        reader.rollback()
    with sessions() as session:
        assert retention.detach_pending(session) == [week]
        assert week not in retention.partitions(session)

    result = Pruner(sessions, FakeClock(NOW), KEEP).run()

    assert result.finished
    assert week.name not in tables(sessions)
    with sessions() as session:
        assert retention.detach_pending(session) == [] and retention.detached(session) == []
    assert tallied(sessions) == (4, 8)  # counted once


@ON_POSTGRES
def test_a_prune_that_stopped_between_detach_and_drop_is_completed_by_the_next(
    sessions: sessionmaker[Session],
) -> None:
    old_deliveries(sessions, OLD_WEEK, 6)
    week = retention.Partition(retention.partition_name(OLD_WEEK), OLD_WEEK)
    with autocommit(sessions).connect().execution_options(isolation_level="AUTOCOMMIT") as ddl:
        retention.detach_partition(ddl, week, lock_timeout_ms=2000)  # ... and the process dies here
    with sessions() as session:
        assert retention.detached(session) == [week]
        assert session.scalar(select(func.count()).select_from(Intake)) == 0  # out of the log already
    assert tallied(sessions) == (0, 0)

    result = Pruner(sessions, FakeClock(NOW), KEEP).run()

    assert result.finished and week.name not in tables(sessions)
    assert tallied(sessions) == (6, 12)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(IntakeKey)) == 0


@ON_POSTGRES
def test_weeks_are_created_ahead_by_the_periodic_job(sessions: sessionmaker[Session]) -> None:
    later = datetime(2028, 3, 1, tzinfo=UTC)
    pruner = Pruner(sessions, FakeClock(later), KEEP)

    assert pruner.create_partitions(weeks_ahead=4) == 5
    assert pruner.create_partitions(weeks_ahead=4) == 0  # once
    with sessions() as session:
        names = {p.name for p in retention.partitions(session)}
    first = retention.week_start(later)
    assert {retention.partition_name(first + n * retention.WEEK) for n in range(5)} <= names


@ON_POSTGRES
def test_a_delivery_for_a_missing_week_creates_it_on_demand(sessions: sessionmaker[Session]) -> None:
    at = datetime(2029, 6, 6, 9, tzinfo=UTC)
    raw = captured("alertmanager/01-firing-single.json").body_raw
    stored = store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
    assert stored.intake_id is not None
    with sessions() as session:
        assert retention.partition_of(session, stored.intake_id) == retention.partition_name(
            retention.week_start(at)
        )


@ON_POSTGRES
def test_a_delivery_whose_week_cannot_be_created_is_refused_for_a_retry_not_lost(
    sessions: sessionmaker[Session],
) -> None:
    at = datetime(2029, 7, 4, 9, tzinfo=UTC)
    raw = captured("alertmanager/01-firing-single.json").body_raw
    delivery = parse_delivery(Source.ALERTMANAGER, raw, at)
    engine = autocommit(sessions)
    with engine.connect() as ddl:  # other DDL on the log holds the lock an ATTACH needs
        ddl.execute(text("LOCK TABLE intake IN SHARE UPDATE EXCLUSIVE MODE"))
        with pytest.raises(StorageUnavailable):
            store_delivery(sessions, delivery, raw, at)
        ddl.rollback()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Intake)) == 0
        assert (
            session.scalar(select(func.count()).select_from(IntakeKey)) == 0
        )  # the retry is not a duplicate
    again = store_delivery(sessions, delivery, raw, at)  # the sender's retry
    assert again.intake_id is not None and not again.duplicate


@pytest.mark.postgres
def test_the_migration_moves_the_default_partitions_rows_into_their_weeks(postgres_server: str) -> None:
    """0015 -> head with rows in the default partition (weeks with no partition of their own):
    every row kept as it was, each in its week, ids and keys as before; no default partition."""
    with ExitStack() as stack:
        url = stack.enter_context(fresh_database(postgres_server))
        engine = create_db_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine, "0015")
        weeks = [datetime(2024, 2, 7, 3, tzinfo=UTC), datetime(2024, 9, 1, 23, tzinfo=UTC), datetime.now(UTC)]
        with engine.begin() as connection:
            for i, at in enumerate(weeks * 2):
                connection.execute(
                    text(
                        "INSERT INTO intake (source, dedup_key, received_at, body, alert_count, status, attempts, "
                        "progress) VALUES ('alertmanager', :key, :at, :body, 1, :status, 1, 0)"
                    ),
                    {
                        "key": f"k{i}",
                        "at": at,
                        "body": f'{{"n": {i}}}'.encode(),
                        "status": ("done", "failed")[i % 2],
                    },
                )
                connection.execute(
                    text("INSERT INTO intake_keys (dedup_key, received_at) VALUES (:key, :at)"),
                    {"key": f"k{i}", "at": at},
                )
            in_default = connection.scalar(text("SELECT count(*) FROM intake_default"))
        assert in_default == 4  # the two old weeks had no partition: their rows were in the default one

        def stored() -> list[tuple[object, ...]]:
            with engine.connect() as connection:
                return [tuple(r) for r in connection.execute(text("SELECT * FROM intake ORDER BY id"))]

        before = stored()
        upgrade(engine)

        assert stored() == before
        sessions = make_session_factory(engine)
        with sessions() as session:
            assert session.scalar(text("SELECT to_regclass('intake_default')")) is None
            for intake_id, at in enumerate(weeks * 2, start=1):
                assert retention.partition_of(session, intake_id) == retention.partition_name(
                    retention.week_start(at)
                )
            assert session.scalar(select(func.count()).select_from(IntakeKey)) == 6
        raw = captured("alertmanager/01-firing-single.json").body_raw
        at = datetime(2024, 9, 2, tzinfo=UTC)  # a Monday: a week the migration did not make
        stored = store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
        assert stored.intake_id is not None and stored.intake_id > 6  # ids go on (the failed try took one)

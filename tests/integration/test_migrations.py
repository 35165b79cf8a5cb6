"""The Alembic migrations build exactly the schema the models describe, on both databases; a
command brings its database to that schema first, or says in one line why it cannot."""

from __future__ import annotations

import re
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text

from bridge.alert import Source
from bridge.db import retention
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import store_delivery
from bridge.db.migrate import (
    UP_TO_DATE,
    alembic_config,
    current_revision,
    head_revision,
    prepared,
    revision_of,
    sqlite_file,
    upgrade,
)
from bridge.db.models import Base, IntakeKey
from bridge.errors import ConfigError, StorageUnavailable
from bridge.sources import parse_delivery
from tests.support.payloads import captured
from tests.support.postgres import free_port, fresh_database

PARTITION_TABLE = re.compile(r"^intake_(w\d{8}|default)$")


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head_revision()
            options = {"compare_type": True, "include_object": not_a_partition}
            diff = compare_metadata(MigrationContext.configure(connection, opts=options), Base.metadata)
        if engine.dialect.name == "postgresql":
            # Partitioned by time: a unique index cannot span the partitions, so the one on the
            # delivery key is intake_keys' primary key instead (migration 0012).
            assert [(d[0], sorted(c.name for c in d[1].columns)) for d in diff] == [
                ("add_constraint", ["dedup_key"])
            ]
        else:
            assert diff == []
    finally:
        engine.dispose()


def not_a_partition(obj: object, name: str | None, kind: str, reflected: bool, compare_to: object) -> bool:
    """The intake log's weekly and default partitions (PostgreSQL) are made at run time, not by the models."""
    table = name if kind == "table" else getattr(getattr(obj, "table", None), "name", None)
    return not (table and PARTITION_TABLE.match(table))


def test_downgrade_and_upgrade_again(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        command.downgrade(alembic_config(engine), "base")
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_sqlite_incident_numbers_stay_autoincrement_through_every_migration(tmp_path: Path) -> None:
    """A migration that rebuilds `incidents` on SQLite must keep AUTOINCREMENT, or numbers repeat."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    try:
        upgrade(engine)
        command.downgrade(alembic_config(engine), "0001")
        upgrade(engine)
        with engine.connect() as connection:
            schema = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'incidents'")
            ).scalar_one()
        assert "AUTOINCREMENT" in schema
    finally:
        engine.dispose()


def test_a_command_creates_and_upgrades_a_missing_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "new" / "bridge.db"
    with prepared(f"sqlite:///{path}", timeout=2) as done:
        assert done == f"database upgraded from empty to {head_revision()}"
    assert revision_of(f"sqlite:///{path}", timeout=2) == head_revision()
    with prepared(f"sqlite:///{path}", timeout=2) as again:
        assert again == UP_TO_DATE


def test_a_failed_command_leaves_no_database_it_created(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "bridge.db"
    with pytest.raises(RuntimeError), prepared(f"sqlite:///{path}", timeout=2):
        assert path.exists()
        raise RuntimeError("the command failed")
    assert not (tmp_path / "a").exists()  # nor the directories made for it
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failed_command_never_removes_a_database_that_was_there(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    url = f"sqlite:///{path}"
    with prepared(url, timeout=2):
        pass
    with pytest.raises(RuntimeError), prepared(url, timeout=2):
        raise RuntimeError("the command failed")
    assert revision_of(url, timeout=2) == head_revision()


def test_an_empty_file_is_upgraded_in_place(tmp_path: Path) -> None:
    """A `bridge.db` of 0 bytes, as a failed command of an earlier version left it."""
    path = tmp_path / "bridge.db"
    path.touch()
    with prepared(f"sqlite:///{path}", timeout=2) as done:
        assert done.startswith("database upgraded from empty")


def test_asking_the_revision_creates_no_sqlite_file(tmp_path: Path) -> None:
    assert revision_of(f"sqlite:///{tmp_path / 'bridge.db'}", timeout=2) is None
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_database_of_a_newer_bridge_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    engine = create_db_engine(url)
    upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    with pytest.raises(ConfigError) as refused, prepared(url, timeout=2):
        pass
    assert str(refused.value) == (
        f"the database schema is at 0999, which this bridge does not know (it needs {head_revision()}): "
        "is the database a newer bridge's?"
    )


@pytest.mark.postgres
def test_a_postgresql_database_behind_is_refused_with_what_to_run(postgres_server: str) -> None:
    with fresh_database(postgres_server) as url:
        with pytest.raises(ConfigError) as refused, prepared(url, timeout=2):
            pass
        assert str(refused.value) == (
            f"the database schema is at nothing, bridge needs {head_revision()}: run `bridge db upgrade` first"
        )
        assert revision_of(url, timeout=2) is None  # refused, not upgraded behind the operator's back


def test_a_database_that_cannot_be_reached_is_said_in_one_line(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/bridge"
    with pytest.raises(StorageUnavailable) as refused, prepared(url, timeout=1):
        pass
    assert str(refused.value).startswith("cannot use the database: connection")
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///bridge.db", Path("bridge.db")),
        ("sqlite:////var/lib/bridge/bridge.db", Path("/var/lib/bridge/bridge.db")),
        ("sqlite+pysqlite:///data/b.db", Path("data/b.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql+psycopg://bridge:secret@db/bridge", None),
    ],
)
def test_the_file_of_a_database_url(url: str, file: Path | None) -> None:
    assert sqlite_file(url) == file


STORED_INTAKE = "SELECT id, source, dedup_key, received_at, body, alert_count, status, attempts, progress, error FROM intake ORDER BY id"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_the_retention_migration_keeps_every_delivery_of_a_database_with_data(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """0008 -> 0012 with deliveries in it (a year back, this week, pending, parked): every row is
    kept as it was, in the partition of its week on PostgreSQL; ids go on; a redelivery of an old
    one is still recognised; and back down to 0008 keeps them too."""
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'bridge.db'}"
        else:
            url = stack.enter_context(fresh_database(request.getfixturevalue("postgres_server")))
        engine = create_db_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine, "0008")
        now = datetime.now(UTC)
        rows = [
            (now - timedelta(days=400), "done"),
            (now - timedelta(days=40), "failed"),
            (now - timedelta(days=3), "done"),
            (now, "pending"),
        ]
        with engine.begin() as connection:
            for i, (at, status) in enumerate(rows):
                connection.execute(
                    text(
                        "INSERT INTO intake (source, dedup_key, received_at, body, alert_count, status, attempts, "
                        "progress, error) VALUES ('alertmanager', :key, :at, :body, 1, :status, 1, 0, :error)"
                    ),
                    {
                        "key": f"key-{i}",
                        "at": at if backend == "postgresql" else at.replace(tzinfo=None),
                        "body": f'{{"n": {i}}}'.encode(),
                        "status": status,
                        "error": "boom" if status == "failed" else None,
                    },
                )

        def stored() -> list[tuple[object, ...]]:
            with engine.connect() as connection:
                return [tuple(r) for r in connection.execute(text(STORED_INTAKE))]

        before = stored()
        assert len(before) == 4
        upgrade(engine)
        assert stored() == before
        sessions = make_session_factory(engine)
        if backend == "postgresql":
            with sessions() as session:
                assert [retention.partition_of(session, i) for i in (1, 2, 3, 4)] == [
                    retention.partition_name(retention.week_start(at)) for at, _ in rows
                ]
                assert set(session.scalars(select(IntakeKey.dedup_key))) == {f"key-{i}" for i in range(4)}
        raw = captured("alertmanager/01-firing-single.json").body_raw
        delivery = parse_delivery(Source.ALERTMANAGER, raw, now)
        fresh = store_delivery(sessions, delivery, raw, now)
        assert fresh.intake_id == 5 and not fresh.duplicate
        again = store_delivery(sessions, delivery, raw, now)
        assert again.duplicate and again.intake_id is None
        command.downgrade(alembic_config(engine), "0008")
        assert stored()[:4] == before and len(stored()) == 5
        upgrade(engine)
        assert stored()[:4] == before
        assert store_delivery(sessions, delivery, raw, now).duplicate

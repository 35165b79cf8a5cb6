"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from bridge.db.engine import create_db_engine
from bridge.db.migrate import alembic_config, current_revision, head_revision, upgrade
from bridge.db.models import Base


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        with engine.connect() as connection:
            diff = compare_metadata(
                MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []
    finally:
        engine.dispose()


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

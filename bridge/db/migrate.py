"""Schema migrations (Alembic): upgrading a database, and making sure it is current at start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from bridge.db.engine import create_db_engine
from bridge.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to `revision`."""
    command.upgrade(alembic_config(engine), revision)


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def prepare(engine: Engine) -> str:
    """Make the schema usable at start: SQLite (embedded, one process) is upgraded in place; a
    PostgreSQL that is not at the latest migration is refused with what to run.

    Returns what was done, for the start-up log. Raises ConfigError when the schema is behind.
    """
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        before = current_revision(engine)
        if before != head_revision():
            upgrade(engine)
            return f"database upgraded from {before or 'empty'} to {head_revision()}"
        return "database up to date"
    revision = current_revision(engine)
    if revision != head_revision():
        raise ConfigError(
            f"the database schema is at {revision or 'nothing'}, bridge needs {head_revision()}: "
            "run `bridge db upgrade` first"
        )
    return "database up to date"


def is_empty(engine: Engine) -> bool:
    """No tables at all: a brand new database."""
    return not inspect(engine).get_table_names()


def prepare_url(url: str, timeout: float) -> str:
    """`prepare` the database at `url`; returns what was done, ConfigError when it is behind."""
    engine = create_db_engine(url, timeout=timeout)
    try:
        return prepare(engine)
    finally:
        engine.dispose()


def upgrade_url(url: str, revision: str, timeout: float) -> tuple[str | None, str | None]:
    """Apply migrations up to `revision` on the database at `url`: (revision before, after)."""
    engine = create_db_engine(url, timeout=timeout)
    try:
        before = current_revision(engine)
        upgrade(engine, revision)
        return before, current_revision(engine)
    finally:
        engine.dispose()


def revision_of(url: str, timeout: float) -> str | None:
    """The schema revision of the database at `url` (None: empty)."""
    engine = create_db_engine(url, timeout=timeout)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()

"""Schema migrations (Alembic): upgrading a database, and making sure it is current before a
process or a command uses it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bridge.db.engine import create_db_engine
from bridge.errors import ConfigError, StorageUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
UP_TO_DATE = "database up to date"


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
    """The schema revision (None: empty). Read without Alembic's migration context, which logs
    two lines every time: every command asks this before it starts."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(versions) > 1:
        raise ConfigError(f"the database has several schema revisions ({', '.join(versions)})")
    return versions[0] if versions else None


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
            try:
                upgrade(engine)
            except CommandError:
                raise ConfigError(
                    f"the database schema is at {before}, which this bridge does not know "
                    f"(it needs {head_revision()}): is the database a newer bridge's?"
                ) from None
            return f"database upgraded from {before or 'empty'} to {head_revision()}"
        return UP_TO_DATE
    revision = current_revision(engine)
    if revision != head_revision():
        raise ConfigError(
            f"the database schema is at {revision or 'nothing'}, bridge needs {head_revision()}: "
            "run `bridge db upgrade` first"
        )
    return UP_TO_DATE


def is_empty(engine: Engine) -> bool:
    """No tables at all: a brand new database."""
    return not inspect(engine).get_table_names()


def prepare_url(url: str, timeout: float) -> str:
    """`prepare` the database at `url`; returns what was done. ConfigError when it is behind,
    StorageUnavailable when it cannot be reached (both say it in one line)."""
    engine = create_db_engine(url, timeout=timeout)
    try:
        return prepare(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StorageUnavailable(f"cannot use the database: {reason}") from None
    finally:
        engine.dispose()


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite database URL; None for PostgreSQL and in-memory or URI databases."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser()


@contextmanager
def prepared(url: str, timeout: float) -> Iterator[str]:
    """`prepare_url` for the length of one command, yielding what was done. A SQLite file (and
    the directories) that this created is removed again if the command fails, so a mistyped
    command never leaves an empty `bridge.db` behind."""
    file = sqlite_file(url)
    created = [] if file is None else [p for p in (file, *file.parents) if not p.exists()]
    try:
        yield prepare_url(url, timeout)
    except BaseException:
        if created:
            _remove(created)
        raise


def _remove(created: list[Path]) -> None:
    """Remove a SQLite file created here, its companions, then the directories made for it."""
    file, *directories = created
    for path in (file, *(file.with_name(file.name + s) for s in ("-wal", "-shm", "-journal"))):
        path.unlink(missing_ok=True)
    for directory in directories:
        with suppress(OSError):  # not empty: something else put a file there meanwhile
            directory.rmdir()


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
    """The schema revision of the database at `url` (None: empty, or no SQLite file yet, which
    asking does not create)."""
    file = sqlite_file(url)
    if file is not None and not file.exists():
        return None
    engine = create_db_engine(url, timeout=timeout)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()

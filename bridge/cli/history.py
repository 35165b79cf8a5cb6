"""The stored history that `bridge rules replay` and `bridge intake export` read: the database
of BRIDGE_DATABASE_URL as it is, never created or upgraded by a command that only reads it."""

from __future__ import annotations

import click

from bridge.db.migrate import sqlite_file
from bridge.replay.history import StoredHistory
from bridge.settings import Settings


def stored_history(settings: Settings) -> StoredHistory:
    """The history of BRIDGE_DATABASE_URL; a SQLite file that is not there stops the command in one
    line (opening it would leave an empty one behind)."""
    file = sqlite_file(settings.database_url)
    if file is not None and not file.exists():
        raise click.ClickException(f"no database at {file}: nothing recorded to read (BRIDGE_DATABASE_URL)")
    return StoredHistory(settings.database_url, settings.db_timeout)

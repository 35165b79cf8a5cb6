"""Where a running `bridge serve` can be reached, for the commands that talk to it (`bridge demo`)
or put links to it in the messages they queue (`bridge incidents escalate`).

While it runs, `bridge serve` on a SQLite database records its address in a file next to the
database (`bridge.db` -> `bridge.db.serving`, removed when it stops): a command that works on
that database finds the server that works on it too. PostgreSQL deployments set
BRIDGE_BASE_URL instead (their web tier runs under gunicorn, not `bridge serve`).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bridge.db.migrate import sqlite_file

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
RECORD_SUFFIX = ".serving"
WILDCARDS = {"", "0.0.0.0", "::"}  # noqa: S104 (names the addresses, binds nothing)


@dataclass(frozen=True, slots=True)
class Address:
    """Where a serving bridge is: `url` from this machine, `base_url` for links in messages."""

    url: str
    base_url: str


def listening(host: str, port: int, base_url: str | None) -> Address:
    """The address of a bridge listening on `host`:`port`. Links use BRIDGE_BASE_URL when it is
    set; a wildcard host is reached on the loopback here, and named by this machine's name in
    links (people read them elsewhere)."""
    here = ("::1" if ":" in host else DEFAULT_HOST) if host in WILDCARDS else host
    named = (platform.node() or "localhost") if host in WILDCARDS else host
    return Address(_http(here, port), base_url or _http(named, port))


def _http(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def record_path(database_url: str) -> Path | None:
    """The file `bridge serve` records its address in (None: not a SQLite file database)."""
    file = sqlite_file(database_url)
    return None if file is None else file.with_name(file.name + RECORD_SUFFIX)


@contextmanager
def recorded(database_url: str, address: Address) -> Iterator[None]:
    """Record `address` as where the bridge of `database_url` serves, for as long as it does."""
    path = record_path(database_url)
    if path is None:
        yield
        return
    text = json.dumps({"url": address.url, "base_url": address.base_url})
    path.write_text(text + "\n", encoding="utf-8")
    try:
        yield
    finally:
        with suppress(OSError):  # another serve took the file over meanwhile: leave it to that one
            if path.read_text(encoding="utf-8").strip() == text:
                path.unlink()


def recorded_address(database_url: str) -> Address | None:
    """The address `bridge serve` recorded for `database_url` (None: none, or unreadable)."""
    path = record_path(database_url)
    if path is None:
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict):
        return None
    url, base_url = found.get("url"), found.get("base_url")
    if not isinstance(url, str) or not isinstance(base_url, str):
        return None
    return Address(url, base_url)

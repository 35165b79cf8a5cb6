"""The rule engine is pure: no database, web or network library, no clock of the world, no files."""

from __future__ import annotations

import ast
from pathlib import Path

import bridge.dedup

DEDUP = Path(bridge.dedup.__file__).parent


def test_the_rule_engine_does_no_io() -> None:
    """bridge.dedup never imports Flask, SQLAlchemy, Redis, requests, or the clock of the world."""
    forbidden = {
        "flask",
        "sqlalchemy",
        "redis",
        "rq",
        "requests",
        "psycopg",
        "socket",
        "bridge.ticketing",
        "bridge.db",
        "bridge.services",
        "bridge.worker",
        "bridge.web",
        "bridge.cli",
        "bridge.clock",
    }
    for path in DEDUP.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not any(name == f or name.startswith(f + ".") for f in forbidden), (
                    f"{path.name}: {name}"
                )
        source = path.read_text()
        calls = {
            n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        if path.name != "loader.py":  # the loader reads files; deciding never does
            assert "open" not in calls and "read_text" not in source, path.name
        assert "datetime.now" not in source and "time.time" not in source, f"{path.name} reads the clock"

"""bridge.ticketing (lifecycle, rota, SLA) is pure: no database, web or network libraries, and it
never reads the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import bridge.ticketing

PACKAGE = Path(bridge.ticketing.__file__).parent
FORBIDDEN = {"sqlalchemy", "flask", "requests", "redis", "rq", "smtplib", "jinja2", "psycopg", "time"}


def test_ticketing_imports_no_io_library() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name}: {name}"


def test_ticketing_never_reads_the_clock() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in {"now", "utcnow", "today"}, f"{path.name}:{node.lineno}"

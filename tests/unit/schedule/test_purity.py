"""bridge.schedule is pure: only the standard library, no I/O, and never the clock of the world."""

from __future__ import annotations

import ast
from pathlib import Path

import bridge.schedule

PACKAGE = Path(bridge.schedule.__file__).parent
ALLOWED = {
    "__future__",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "heapq",
    "itertools",
    "re",
    "zoneinfo",
}


def test_schedule_imports_only_the_standard_library_and_itself() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top in ALLOWED or name.startswith("bridge.schedule"), f"{path.name}: {name}"


def test_schedule_never_reads_the_clock_or_files() -> None:
    # The time module cannot be imported (above); datetime.time(...) builds a wall-clock time.
    forbidden = {"now", "utcnow", "today", "open", "read_text", "getenv"}
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                called = (
                    node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                )
                assert called not in forbidden, f"{path.name}:{node.lineno} calls {called}"

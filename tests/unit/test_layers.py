"""The house plan holds: every import points down the layers of DESIGN section 2, no module
imports itself in a circle, and nothing imports inside a function to dodge one.

    kernel (alert, errors, clock, timeutil, priority, settings, yamldoc, slots, collector)
      <- pure: schedule <- dedup, ticketing;  sources
        <- db <- integrations <- services <- replay, worker <- web <- cli

`cli` sits above `web`: `bridge serve` runs the web app and `--json` prints what the API shows.
The graph is read from the source with `ast`, so the test sees every import, run or not; the
CLI's lazily loaded subcommands ("bridge.cli.rules:rules") count as imports of the module that
names them, and `bridge.cli.lazy` is the one module that may import by name.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

import bridge
from bridge.cli.lazy import load_command

ROOT = Path(bridge.__file__).parent

KERNEL = {"alert", "errors", "clock", "timeutil", "priority", "settings", "yamldoc", "slots", "collector"}
LAYERS = {
    "kernel": 0,
    "schedule": 1,
    "sources": 1,
    "dedup": 2,
    "ticketing": 2,
    "db": 3,
    "integrations": 4,
    "services": 5,
    "replay": 6,
    "worker": 6,
    "web": 7,
    "cli": 8,
    "__main__": 9,
}
"""A package may import its own modules and those of any package with a lower number, except
between packages of one number (pure packages stay apart; replay and worker do not meet)."""

PURE = ("kernel", "schedule", "sources", "dedup", "ticketing")
IO_LIBRARIES = {
    "flask",
    "werkzeug",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "redis",
    "rq",
    "requests",
    "pyzabbix",
    "prometheus_client",
    "waitress",
    "gunicorn",
    "jinja2",
    "smtplib",
    "socket",
}
THIRD_PARTY_ALLOWED = {
    # what else each layer may use besides the standard library and bridge
    "kernel": {"yaml"},
    "schedule": set(),
    "sources": {"orjson"},
    "dedup": {"yaml"},
    "ticketing": {"yaml"},
    "db": {"sqlalchemy", "alembic"},
    "integrations": {"requests", "pyzabbix", "redis", "rq", "smtplib"},
    "services": {"sqlalchemy", "prometheus_client", "jinja2", "requests"},
    "replay": {"sqlalchemy"},
    "worker": {"sqlalchemy", "redis", "rq", "socket"},
    "web": {"flask", "werkzeug", "sqlalchemy", "prometheus_client", "waitress", "gunicorn"},
    "cli": {"click", "waitress", "prometheus_client", "requests"},
    "__main__": set(),
}
FUNCTION_LEVEL_ALLOWED: set[tuple[str, str]] = set()
"""(module, imported) pairs allowed inside a function: a heavy optional dependency. None today."""
IMPORTS_BY_NAME = {"bridge.cli.lazy"}
"""Modules that may import a module named by a string (importlib): the CLI's lazy groups."""
LAZY_REFERENCE = re.compile(r"^(bridge(?:\.\w+)+):\w+$")


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module, e.g. "bridge.services.incidents"
    target: str  # what it imports: a module, e.g. "bridge.db.models", or a third-party name
    line: int
    in_function: bool
    type_checking: bool


def modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        if "migrations" in path.relative_to(ROOT).parts:
            continue  # Alembic loads these by path; they import only the models
        parts = ("bridge", *path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = modules()


def imports_of(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(), str(path))
    in_function: set[int] = set()
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(n) for n in ast.walk(node))
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking.update(id(n) for n in ast.walk(node))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            lazy = LAZY_REFERENCE.match(node.value)
            if lazy is not None:  # "bridge.cli.rules:rules": a subcommand loaded when it runs
                yield Import(
                    module, _module_of(lazy.group(1)), node.lineno, in_function=False, type_checking=False
                )
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            yield Import(
                module, _module_of(target), node.lineno, id(node) in in_function, id(node) in type_checking
            )


def _module_of(target: str) -> str:
    """The bridge module a dotted name lives in (`bridge.db.models.Incident` -> `bridge.db.models`)."""
    if not target.startswith("bridge"):
        return target
    while target not in MODULES and "." in target:
        target = target.rpartition(".")[0]
    return target


ALL_IMPORTS = [found for module, path in sorted(MODULES.items()) for found in imports_of(module, path)]


def package_of(module: str) -> str:
    """The package a bridge module is in: its package under bridge, or the kernel."""
    parts = module.split(".")
    return "kernel" if len(parts) == 1 or parts[1] in KERNEL else parts[1]


def layer_of(module: str) -> str:
    """The layer a bridge module belongs to."""
    package = package_of(module)
    if package not in LAYERS:
        raise AssertionError(f"{module} is in no layer: put it in a package of DESIGN section 2")
    return package


def forbidden(found: Import) -> str | None:
    """Why this import breaks the plan, or None."""
    here = layer_of(found.module)
    if not found.target.startswith("bridge"):
        top = found.target.split(".")[0]
        if top in IO_LIBRARIES and top not in THIRD_PARTY_ALLOWED[here]:
            return f"the {here} layer must not use {top}"
        return None
    there = layer_of(found.target)
    if there == here:
        return None
    if LAYERS[there] >= LAYERS[here]:
        return f"{here} must not import {there} (it is {'beside' if LAYERS[there] == LAYERS[here] else 'above'} it)"
    if here in ("dedup", "ticketing") and there not in ("kernel", "schedule"):
        return f"the pure {here} package may only import the kernel and schedule"
    return None


def test_every_module_is_in_a_layer() -> None:
    assert [m for m in sorted(MODULES) if package_of(m) not in LAYERS] == []


def test_top_level_holds_only_the_kernel() -> None:
    top = {m.split(".")[1] for m in MODULES if m.count(".") == 1 and MODULES[m].name != "__init__.py"}
    assert top == KERNEL | {"__main__"}


def test_every_import_points_down_the_layers() -> None:
    wrong = [f"{i.module}:{i.line} imports {i.target}: {why}" for i in ALL_IMPORTS if (why := forbidden(i))]
    assert wrong == []


def test_no_import_inside_a_function() -> None:
    inside = [
        f"{i.module}:{i.line} imports {i.target} inside a function"
        for i in ALL_IMPORTS
        if i.in_function and (i.module, i.target) not in FUNCTION_LEVEL_ALLOWED
    ]
    assert inside == []


def test_only_the_lazy_cli_groups_import_by_name() -> None:
    by_name = sorted(
        {i.module for i in ALL_IMPORTS if i.target in ("importlib", "builtins.__import__")} - IMPORTS_BY_NAME
    )
    assert by_name == []


def test_the_lazy_subcommands_exist() -> None:
    named = [
        node.value
        for path in MODULES.values()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and LAZY_REFERENCE.match(node.value)
    ]
    assert len(named) >= 14  # every top-level command, and rules test and replay
    for reference in named:
        assert isinstance(load_command(reference), click.Command), reference


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for found in ALL_IMPORTS:
        if found.target in MODULES and found.target != found.module and not found.type_checking:
            graph[found.module].add(found.target)
    assert cycles(graph) == []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize(
    ("module", "target", "reason"),
    [
        ("bridge.dedup.engine", "sqlalchemy.orm", "the dedup layer must not use sqlalchemy"),
        ("bridge.ticketing.lifecycle", "bridge.db.models", "ticketing must not import db (it is above it)"),
        (
            "bridge.services.incidents",
            "bridge.web.serialize",
            "services must not import web (it is above it)",
        ),
        ("bridge.replay.history", "bridge.worker.runtime", "replay must not import worker (it is beside it)"),
        ("bridge.db.models", "flask", "the db layer must not use flask"),
        (
            "bridge.dedup.rules",
            "bridge.sources",
            "the pure dedup package may only import the kernel and schedule",
        ),
        ("bridge.alert", "bridge.sources", "kernel must not import sources (it is above it)"),
    ],
)
def test_a_forbidden_import_is_caught(module: str, target: str, reason: str) -> None:
    assert forbidden(Import(module, target, 1, in_function=False, type_checking=False)) == reason


def test_a_cycle_is_caught() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

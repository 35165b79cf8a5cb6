"""Every exception bridge raises on purpose is one of the small tree `bridge.errors` draws."""

from __future__ import annotations

import ast
from pathlib import Path

import bridge
import bridge.errors

ROOT = Path(bridge.__file__).parent


def exception_classes() -> dict[str, str]:
    """Classes defined anywhere in bridge whose bases name an exception, by module."""
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(base) for base in node.bases}
                if any(
                    b.endswith(("Error", "Exception", "Failure", "Failed", "Unavailable")) for b in bases
                ) or (bases & {"BridgeError", "Unauthenticated", "Conflict", "NotFound"}):
                    found[node.name] = str(path.relative_to(ROOT))
    return found


def test_every_exception_class_lives_in_bridge_errors() -> None:
    assert {name: where for name, where in exception_classes().items() if where != "errors.py"} == {}


def test_the_tree_in_the_docstring_names_every_error() -> None:
    tree = bridge.errors.__doc__ or ""
    classes = [
        name
        for name, value in vars(bridge.errors).items()
        if isinstance(value, type) and issubclass(value, bridge.errors.BridgeError)
    ]
    assert len(classes) >= 12
    missing = [name for name in classes if f"── {name} " not in tree and name != "BridgeError"]
    assert missing == []

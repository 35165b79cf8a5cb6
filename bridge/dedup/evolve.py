"""`evolve`: `dataclasses.replace` for the engine's frozen, slotted values, without the cost.

The engine derives a new state from an old one several times per alert event, and
`dataclasses.replace` spends most of its time on introspection (fields(), keyword checks, the
generated __init__); replaying a million alerts made it the engine's single largest cost. This
copies the slots directly. Type checkers see `dataclasses.replace` itself, so field names and
types are still checked at every call site.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

T = TypeVar("T")

if TYPE_CHECKING:
    from dataclasses import replace as evolve
else:
    _set = object.__setattr__

    def evolve(value: T, /, **changes: Any) -> T:
        new = object.__new__(type(value))
        for name in type(value).__slots__:
            _set(new, name, getattr(value, name))
        for name, changed in changes.items():
            _set(new, name, changed)  # an unknown name raises AttributeError, as replace raises TypeError
        return new


__all__ = ["evolve"]

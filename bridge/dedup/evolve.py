"""`evolve`: `dataclasses.replace` for the engine's frozen, slotted values, without the cost;
`quick_init` (from `bridge.slots`): the same values built without the cost of a frozen
dataclass's `__init__`.

The engine derives a new state from an old one several times per alert event, and
`dataclasses.replace` spends most of its time on introspection (fields(), keyword checks, the
generated __init__); replaying a million alerts made it the engine's single largest cost. This
copies the slots directly, with a copier written once per class. Type checkers see
`dataclasses.replace` itself, so field names and types are still checked at every call site.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from bridge.slots import quick_init, twin_of

T = TypeVar("T")

if TYPE_CHECKING:
    from dataclasses import replace as evolve
else:
    _new = object.__new__
    _copiers: dict[type, Any] = {}

    def _copier(cls: type) -> Any:
        """`copy(value, changes)` for `cls`: a new instance, each slot from `changes` or `value`.

        The instance is built as one of its twin (`twin_of`), then made a `cls`; where there is
        no twin, each slot is set through its descriptor."""
        slots = cls.__slots__
        twin = twin_of(cls)
        same_layout = twin is not None
        namespace: dict[str, Any] = {"_new": _new, "_cls": cls, "_twin": twin, "_names": frozenset(slots)}
        lines = ["def copy(value, changes):", f"    new = _new({'_twin' if same_layout else '_cls'})"]
        for i, name in enumerate(slots):
            value = f"changes[{name!r}] if {name!r} in changes else value.{name}"
            if same_layout:
                lines.append(f"    new.{name} = {value}")
            else:
                namespace[f"_set_{i}"] = cls.__dict__[name].__set__
                lines.append(f"    _set_{i}(new, {value})")
        lines.append("    if not _names.issuperset(changes):")
        lines.append("        raise AttributeError(f'{_cls.__name__} has no field among {sorted(changes)}')")
        if same_layout:
            lines.append("    new.__class__ = _cls")
        lines.append("    return new")
        exec("\n".join(lines), namespace)  # noqa: S102 - code built from the class's own slot names
        copy = namespace["copy"]
        _copiers[cls] = copy
        return copy

    def evolve(value: T, /, **changes: Any) -> T:
        copy = _copiers.get(type(value))
        if copy is None:
            copy = _copier(type(value))
        return copy(value, changes)  # an unknown name raises AttributeError, as replace raises TypeError


__all__ = ["evolve", "quick_init", "twin_of"]

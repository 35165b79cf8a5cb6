"""`evolve`: `dataclasses.replace` for the engine's frozen, slotted values, without the cost;
`quick_init`: the same values built without the cost of a frozen dataclass's `__init__`.

The engine derives a new state from an old one several times per alert event, and
`dataclasses.replace` spends most of its time on introspection (fields(), keyword checks, the
generated __init__); replaying a million alerts made it the engine's single largest cost. This
copies the slots directly, with a copier written once per class. Type checkers see
`dataclasses.replace` itself, so field names and types are still checked at every call site.

A frozen dataclass's generated `__init__` sets each field with `object.__setattr__`, the
slowest way there is to fill a slot; building the decisions and states was a seventh of the
engine's time. `quick_init` gives such a class an `__init__` with the same parameters and
defaults that fills each slot directly instead.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

T = TypeVar("T")


def twin_of(cls: type) -> type | None:
    """A plain class with the slots of `cls`, whose instances Python lets become `cls`'s (the
    same layout), or None if it does not. Its slots are set by plain assignments, which the
    interpreter does fastest: half the cost of a descriptor call per slot."""
    twin = type(f"_{cls.__name__}Twin", (), {"__slots__": getattr(cls, "__slots__", ())})
    try:
        instance: Any = object.__new__(twin)
        instance.__class__ = cls
    except TypeError:
        return None
    return twin


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


_MISSING = object()


def quick_init(cls: type[T]) -> type[T]:
    """Replace the generated `__init__` of the frozen, slotted dataclass `cls` by one with the
    same parameters and defaults that fills the slots directly: made its twin (`twin_of`) for
    the time it takes, or else through their descriptors."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if any(not f.init or f.kw_only for f in fields) or hasattr(cls, "__post_init__"):
        return cls  # not a shape this covers: keep the generated one
    twin = twin_of(cls) if tuple(f.name for f in fields) == tuple(getattr(cls, "__slots__", ())) else None
    namespace: dict[str, Any] = {
        "_MISSING": _MISSING,
        "_cls": cls,
        "_twin": twin,
        "_setattr": object.__setattr__,
    }
    params, direct, through = [], [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            namespace[f"_default_{i}"] = f.default
            params.append(f"{f.name}=_default_{i}")
            value = f.name
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_factory_{i}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            value = f"_factory_{i}() if {f.name} is _MISSING else {f.name}"
        else:
            params.append(f.name)
            value = f.name
        direct.append(f"        self.{f.name} = {value}")
        namespace[f"_set_{i}"] = cls.__dict__[f.name].__set__
        through.append(f"        _set_{i}(self, {value})")
    if twin is None:
        body = ["    if True:", *through]
    else:  # a subclass's instance (another layout) is filled through the descriptors
        body = [
            "    if type(self) is _cls:",
            "        _setattr(self, '__class__', _twin)  # past the frozen class's __setattr__",
            *direct,
            "        self.__class__ = _cls",
            "    else:",
            *through,
        ]
    source = f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # noqa: S102 - code built from the class's own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


__all__ = ["evolve", "quick_init", "twin_of"]

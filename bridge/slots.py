"""`quick_init`: a frozen, slotted dataclass built without the cost of its generated `__init__`;
`twin_of`: the plain class behind it, whose slots are set by plain assignments.

A frozen dataclass's generated `__init__` sets each field with `object.__setattr__`, the
slowest way there is to fill a slot; building the engine's decisions and states was a seventh of
its time, and building the `Alert` a sixth of parsing a storm's notification. `quick_init` gives
such a class an `__init__` with the same parameters and defaults that fills each slot directly
instead. In the kernel so that `Alert` itself can have it; `bridge.dedup.evolve` builds on it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

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


__all__ = ["quick_init", "twin_of"]

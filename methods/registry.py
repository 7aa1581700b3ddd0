"""Registration of matchers by name, and discovery of installed plugins.

A built-in method registers itself with ``@register("name")``. A plugin package
declares an entry point in the group ``rgbd_bench.methods`` whose value is a module
(or a :class:`~methods.base.Matcher` subclass); importing it registers its methods.
The registry imports the built-ins and every plugin on first lookup, so a name is never
"not found" just because its module was not imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from benchmark.errors import ConfigError
from methods.base import Matcher

ENTRY_POINT_GROUP = "rgbd_bench.methods"
BUILTIN_MODULES = (
    "methods.pixels",
    "methods.handcrafted",
    "methods.deep",
    "methods.distillation",
)

_REGISTRY: dict[str, type[Matcher]] = {}
_loaded = False


def register(name: str) -> Callable[[type[Matcher]], type[Matcher]]:
    """Class decorator: make a :class:`Matcher` subclass available under ``name``."""

    def wrap(cls: type[Matcher]) -> type[Matcher]:
        if not (isinstance(cls, type) and issubclass(cls, Matcher)):
            raise TypeError(f"@register({name!r}) needs a Matcher subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ConfigError(f"method name {name!r} is registered twice "
                              f"({existing.__module__} and {cls.__module__})")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            entry.load()
        except Exception as error:
            raise ConfigError(f"plugin {entry.name!r} ({entry.value}) failed to load: "
                              f"{error}") from error


def available_methods() -> dict[str, type[Matcher]]:
    """Every registered method by name: built-in and installed plugins."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_method(name: str) -> type[Matcher]:
    """The matcher class registered under ``name``; the error lists the known names."""
    known = available_methods()
    if name not in known:
        raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(known)}")
    return known[name]

"""Registration of matchers by name, and discovery of installed plugins.

A built-in method registers itself with ``@register("name")``. A plugin package
declares an entry point in the group ``rgbd_bench.methods`` whose value is a module
(or a :class:`~methods.core.matcher.Matcher` subclass); importing it registers its methods. A
handcrafted feature or a cross-view metric is declared the same way in the group
``rgbd_bench.features`` or ``rgbd_bench.metrics``; once all are loaded, every fitting
(feature, metric) pair becomes a method (:func:`methods.handcrafted.pairs.register_pairs`,
run through :func:`after_loading`).
The registry imports the built-ins and every plugin on first lookup, so a name is never
"not found" just because its module was not imported.

A plugin cannot break the suite: one that fails to import (or claims a name that is
already taken) is recorded as broken, reported once as a warning, listed by
``rgbd-bench methods``, and fails only a command that asks for one of its names.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from methods.core.errors import ConfigError, NameClash
from methods.core.matcher import Matcher

log = logging.getLogger("rgbd_bench")
ENTRY_POINT_GROUP = "rgbd_bench.methods"
FEATURE_GROUP = "rgbd_bench.features"
METRIC_GROUP = "rgbd_bench.metrics"
ENTRY_POINT_GROUPS = (ENTRY_POINT_GROUP, FEATURE_GROUP, METRIC_GROUP)
BUILTIN_MODULES = (
    "methods.handcrafted.pixels",
    "methods.handcrafted.image_features",
    "methods.handcrafted.eigen_depth",
    "methods.handcrafted.xqda",
    "methods.handcrafted.cca",
    "methods.handcrafted.lsscdl",
    "methods.handcrafted.pairs",
    "methods.deep.baselines",
    "methods.distillation",
)

_REGISTRY: dict[str, type[Matcher]] = {}
_AFTER_LOADING: list[Callable[[], None]] = []
_loaded = False


def after_loading(hook: Callable[[], None]) -> Callable[[], None]:
    """Run ``hook`` once every built-in and plugin has registered, before the first
    lookup returns (how every feature meets every metric); returns ``hook``."""
    _AFTER_LOADING.append(hook)
    return hook


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin entry point that could not be loaded, and why."""

    entry_point: str
    value: str
    distribution: str
    reason: str
    claims: tuple[str, ...] = ()

    def describe(self) -> str:
        return (f"plugin {self.entry_point!r} ({self.value}, from distribution "
                f"{self.distribution!r}) failed to load: {self.reason}; fix or remove it "
                f"(pip uninstall {self.distribution})")


_BROKEN: list[BrokenPlugin] = []


def _origin(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register(name: str) -> Callable[[type[Matcher]], type[Matcher]]:
    """Class decorator: make a :class:`Matcher` subclass available under ``name``.

    A name already taken by another class is an error naming both; nothing is replaced.
    """

    def wrap(cls: type[Matcher]) -> type[Matcher]:
        if not (isinstance(cls, type) and issubclass(cls, Matcher)):
            raise TypeError(f"@register({name!r}) needs a Matcher subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and _origin(existing) != _origin(cls):
            raise NameClash(name, f"method name {name!r} is registered twice: by "
                                  f"{_origin(existing)} and by {_origin(cls)}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return wrap


def _load_plugin(entry: EntryPoint) -> None:
    """Import one plugin; a failure is recorded as a :class:`BrokenPlugin` and warned once."""
    try:
        entry.load()
    except Exception as error:  # a plugin's own bug must not break the suite
        dist = entry.dist.metadata["Name"] if entry.dist is not None else "unknown"
        claims = (error.name,) if isinstance(error, NameClash) else ()
        broken = BrokenPlugin(entry.name, entry.value, dist,
                              f"{type(error).__name__}: {error}", claims)
        _BROKEN.append(broken)
        log.warning("rgbd-bench: warning: %s", broken.describe())


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for group in ENTRY_POINT_GROUPS:
        for entry in entry_points(group=group):
            _load_plugin(entry)
    for hook in _AFTER_LOADING:
        hook()


def available_methods() -> dict[str, type[Matcher]]:
    """Every registered method by name: built-in and installed plugins that loaded."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def broken_plugins() -> list[BrokenPlugin]:
    """The installed plugins that failed to load."""
    _load_all()
    return list(_BROKEN)


def get_method(name: str) -> type[Matcher]:
    """The matcher class registered under ``name``; the error lists the known names.

    A name that a broken plugin also claims fails with that plugin's error, so a clash
    never passes unnoticed.
    """
    known = available_methods()
    claimed = [b for b in _BROKEN if name in b.claims]
    if claimed:
        raise ConfigError(claimed[0].describe())
    if name not in known:
        broken = "".join(f"; {b.describe()}" for b in _BROKEN)
        raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(known)}"
                          f"{broken}")
    return known[name]

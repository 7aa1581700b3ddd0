"""Things of one kind by name: the built-in ones, those registered in code, and those
installed plugins declare as entry points.

A :class:`Registry` is filled three ways: ``@registry.register("name")`` in code; a table
of built-ins, ``name -> "module:attribute"``, imported on the first lookup (so a module
that defines a built-in never imports the registry, and no import circle arises); and
every entry point of the registry's group, imported on the first lookup too. An entry
point whose value is a module registers what it defines itself; one whose value is an
object (``my_plugin.nets:MyBackbone``) is registered under the entry point's name.

A plugin that fails to load does not break the suite: it is warned about once, and an
unknown name's error names it, since it may be why the name is unknown.

Every kind of part uses it: backbones, heads and data sets with their own entry-point
groups; handcrafted features and cross-view metrics as subclasses of their ``base``,
which the method registry loads with the methods (``before_lookup``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any, Generic, TypeVar

from methods.core.errors import ConfigError, NameClash

log = logging.getLogger("rgbd_bench")
T = TypeVar("T")


def _origin(item: Any) -> str:
    return f"{getattr(item, '__module__', '?')}.{getattr(item, '__qualname__', repr(item))}"


class Registry(Generic[T]):
    """Named items of one kind (backbones, heads, data sets), with plugin discovery.

    Args:
        kind: what an item is, in messages (``"backbone"``, ``"data set"``).
        group: the entry-point group plugins declare items in (``"rgbd_bench.backbones"``);
            ``None`` where another registry loads them (features, metrics).
        builtins: name -> ``"module:attribute"`` of the built-in items, imported on the
            first lookup, in this order.
        accept: called with (name, item) before an item is registered; raises
            :class:`TypeError` or :class:`ConfigError` for an item that is not of the kind.
        base: items are subclasses of ``base`` (else :class:`TypeError`); each gets its
            registered name as its ``name`` attribute.
        before_lookup: called before every lookup (the method registry's loading, which
            imports the built-in and plugin features and metrics).
        by_name: lookups list items sorted by name instead of in registration order.
    """

    def __init__(self, kind: str, group: str | None,
                 builtins: dict[str, str] | None = None,
                 accept: Callable[[str, Any], None] | None = None, base: type | None = None,
                 before_lookup: Callable[[], object] | None = None,
                 by_name: bool = False) -> None:
        self.kind = kind
        self.group = group
        self.builtins = dict(builtins or {})
        self.accept = accept
        self.base = base
        self.before_lookup = before_lookup
        self.by_name = by_name
        self._items: dict[str, T] = {}
        self._broken: list[str] = []
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: make the decorated item available under ``name``."""

        def wrap(item: T) -> T:
            self.add(name, item)
            return item

        return wrap

    def add(self, name: str, item: T) -> None:
        """Make ``item`` available under ``name``; a name another item holds is an error
        naming both (nothing is replaced)."""
        if self.base is not None and not (isinstance(item, type)
                                          and issubclass(item, self.base)):
            raise TypeError(f"register_{self.kind}({name!r}) needs a "
                            f"{self.base.__name__} subclass, got {item!r}")
        if self.accept is not None:
            self.accept(name, item)
        existing = self._items.get(name)
        if existing is not None and _origin(existing) != _origin(item):
            raise NameClash(name, f"{self.kind} name {name!r} is registered twice: by "
                                  f"{_origin(existing)} and by {_origin(item)}")
        if self.base is not None:
            item.name = name
        self._items[name] = item

    def get(self, name: str) -> T:
        """The item registered under ``name``; the error lists the known names (and the
        plugins that failed to load)."""
        known = self.items()
        if name not in known:
            broken = "".join(f"; {reason}" for reason in self._broken)
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {', '.join(known)}"
                              f"{broken}")
        return known[name]

    def items(self) -> dict[str, T]:
        """Every item by name: built-ins first, then in the order they were registered
        (sorted by name where the registry says ``by_name``)."""
        if self.before_lookup is not None:
            self.before_lookup()
        self._load()
        return dict(sorted(self._items.items())) if self.by_name else dict(self._items)

    def remove(self, name: str) -> None:
        """Forget the item registered under ``name`` (an item registered for a while)."""
        self._items.pop(name, None)

    def names(self) -> tuple[str, ...]:
        """The names of :meth:`items`."""
        return tuple(self.items())

    def broken(self) -> list[str]:
        """Why each plugin of the group that failed to load failed."""
        self._load()
        return list(self._broken)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for name, value in self.builtins.items():
            self.add(name, EntryPoint(name, value, self.group).load())
        if self.group is not None:
            for entry in entry_points(group=self.group):
                self.load_plugin(entry)

    def load_plugin(self, entry: EntryPoint) -> None:
        """Import one entry point of the group (see the module's text); a failure is
        recorded and warned about, never raised."""
        try:
            item = entry.load()
            if not isinstance(item, ModuleType):
                self.add(entry.name, item)
        except Exception as error:  # a plugin's own bug must not break the suite
            dist = entry.dist.metadata["Name"] if entry.dist is not None else "unknown"
            reason = (f"{self.kind} plugin {entry.name!r} ({entry.value}, from "
                      f"distribution {dist!r}) failed to load: {type(error).__name__}: "
                      f"{error}")
            self._broken.append(reason)
            log.warning("rgbd-bench: warning: %s", reason)

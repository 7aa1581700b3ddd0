"""Building an options dataclass from profile keys: unknown keys and wrong types are errors."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from methods.core.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class NoOptions:
    """The options of something that takes none."""


def _matches(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a field's annotation (lists stand in for tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return value in args
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(_matches, value, args))
        return not args or all(_matches(v, args[0]) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _describe(hint: Any) -> str:
    if hint in _WORDS:
        return _WORDS[hint]
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(hint)))
    return str(hint).replace("typing.", "")


def check_types(options_class: type, options: dict[str, Any], owner: str) -> None:
    """Raise a :class:`ConfigError` naming ``owner`` and the key when a value has the wrong
    type for its dataclass field, so ``folds = "two"`` fails before anything runs."""
    try:
        hints = typing.get_type_hints(options_class)
    except (NameError, TypeError):  # an annotation this check cannot resolve: no check
        return
    for key, value in options.items():
        hint = hints.get(key)
        if hint is not None and not _matches(value, hint):
            raise ConfigError(f"{owner}: {key} must be {_describe(hint)}, got {value!r}")


def merge_tables(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes``: tables (dicts) merged recursively, other values replaced;
    how profiles extend each other and how sections and pins combine."""
    result = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge_tables(result[key], value)
        else:
            result[key] = value
    return result


def moved_error(owner: str, key: str, place: str) -> ConfigError:
    """The error for an old key that has moved to ``place`` (``"group.section.field"``,
    optionally followed by a note)."""
    place, _, note = place.partition(" ")
    *section, name = place.split(".")
    return ConfigError(f"{owner}: option {key!r} has moved to [options.{'.'.join(section)}] "
                       f"{name}{' ' + note if note else ''} (--set options.{place}=...)")


def build_options(options_class: type, options: dict[str, Any], owner: str) -> Any:
    """``options_class(**options)``, sections (fields that are dataclasses themselves)
    built from their sub-tables the same way; an unknown key, a value of the wrong type or
    out of range is a :class:`ConfigError` naming ``owner`` and the section. A key the
    class lists in a ``RENAMED`` class attribute (old name -> new place) says where it
    went."""
    fields = {f.name for f in dataclasses.fields(options_class)}
    unknown = sorted(set(options) - fields)
    renamed = getattr(options_class, "RENAMED", {})
    for key in unknown:
        if key in renamed:
            raise moved_error(owner, key, renamed[key])
    if unknown:
        raise ConfigError(f"{owner}: unknown option(s) {unknown}; known: {sorted(fields)}")
    sections = _sections(options_class)
    values = dict(options)
    for name, section_class in sections.items():
        if name not in values:
            continue
        if not isinstance(values[name], dict):
            raise ConfigError(f"{owner}: {name} is a section; give it as a table "
                              f"([...{name}]) or set its fields ({name}.<field>=...)")
        values[name] = build_options(section_class, values[name], f"{owner} [{name}]")
    check_types(options_class, {k: v for k, v in values.items() if k not in sections}, owner)
    try:
        return options_class(**values)
    except (ValueError, ConfigError) as error:
        raise ConfigError(f"{owner}: {error}") from error


def _sections(options_class: type) -> dict[str, type]:
    """The fields of ``options_class`` whose type is a dataclass: its sections."""
    try:
        hints = typing.get_type_hints(options_class)
    except (NameError, TypeError):
        return {}
    return {f.name: hints[f.name] for f in dataclasses.fields(options_class)
            if dataclasses.is_dataclass(hints.get(f.name))}


def declared_fields(options_class: type) -> dict[str, Any]:
    """The field names of ``options_class`` as a tree: a section maps to its own tree,
    any other field to ``None``."""
    sections = _sections(options_class)
    return {f.name: declared_fields(sections[f.name]) if f.name in sections else None
            for f in dataclasses.fields(options_class)}


def take_declared(options_class: type, table: dict[str, Any]) -> dict[str, Any]:
    """The part of ``table`` (a group section such as ``[options.deep]``) that
    ``options_class`` declares: a group offers fields, each method takes its own."""
    return _take(declared_fields(options_class), table)


def _take(tree: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    taken: dict[str, Any] = {}
    for key, value in table.items():
        if key not in tree:
            continue
        if tree[key] is not None and isinstance(value, dict):
            value = _take(tree[key], value)
        taken[key] = value
    return taken


def merged_trees(trees: list[dict[str, Any]]) -> dict[str, Any]:
    """The union of field trees (:func:`declared_fields`)."""
    union: dict[str, Any] = {}
    for tree in trees:
        for key, value in tree.items():
            if isinstance(value, dict):
                union[key] = merged_trees([union.get(key) or {}, value])
            else:
                union.setdefault(key, None)
    return union


def undeclared(tree: dict[str, Any], table: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of ``table`` that ``tree`` does not declare."""
    found = []
    for key, value in table.items():
        if key not in tree:
            found.append(prefix + key)
        elif isinstance(tree[key], dict) and isinstance(value, dict):
            found += undeclared(tree[key], value, f"{prefix}{key}.")
    return found

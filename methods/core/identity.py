"""A task's provenance: the one place its identity and its artifacts' keys come from.

A task (one method on one fold) is identified by five parts:

- ``options``: a digest of the option fields its method declares (its ``Options``
  holds only the sections it reads), less the fields marked speed-only
  (:func:`speed_only`);
- ``code``: a digest of the code it runs (:mod:`methods.core.fingerprint`), its class's own
  ``version`` included;
- ``needs``: the static keys of the tasks it needs, by method (their data is this
  task's);
- ``data``: a digest of the data set's crops and the fold's identities;
- ``seed`` and ``evaluation`` (trials, protocol, evaluation rules and code).

The *static key* hashes method, options, code, needs and seed; the *training key* the
static key and the data: every artifact a task trains (a network, a student network) is
stored under it, so re-evaluating with other trials reuses the network while anything
that decides the weights retrains it. The *identity* hashes the training key and
``evaluation``; a record carries it and all its parts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from methods.core.context import config_hash
from methods.core.fingerprint import code_digest

MATCHER = ("methods.core.matcher", "Matcher")  # the interface every method class derives from

SPEED_ONLY = "speed_only"


def speed_only(default: Any) -> Any:
    """A dataclass field that cannot change a number (a batch size in eval mode, a cache
    switch): it is left out of every identity and key."""
    return field(default=default, metadata={SPEED_ONLY: True})


def identity_options(options: Any) -> Any:
    """``options`` (a dataclass) as plain data without its speed-only fields, sections
    recursively; a section whose fields are all speed-only disappears."""
    if not dataclasses.is_dataclass(options):
        return options
    kept: dict[str, Any] = {}
    for item in dataclasses.fields(options):
        if item.metadata.get(SPEED_ONLY):
            continue
        value = getattr(options, item.name)
        if dataclasses.is_dataclass(value):
            value = identity_options(value)
            if not value:
                continue
        elif isinstance(value, tuple):
            value = list(value)
        kept[item.name] = value
    return kept


def registered_other_than(cls: type) -> Any:
    """The fingerprint's skip rule for ``cls``: another registered method's class, whose
    code runs in its own task (and reaches this one through ``needs``). The matcher
    interface is found in ``cls``'s own ancestry, so this module imports no matcher."""
    matcher = next((base for base in cls.__mro__
                    if (base.__module__, base.__qualname__) == MATCHER), None)

    def skip(value: Any) -> bool:
        return (matcher is not None and isinstance(value, type) and issubclass(value, matcher)
                and bool(getattr(value, "name", "")) and value not in cls.__mro__)

    return skip


def method_code(cls: type) -> str:
    """The code digest of a method class (see :mod:`methods.core.fingerprint`)."""
    return code_digest(cls, skip=registered_other_than(cls))


@dataclass(frozen=True)
class TaskProvenance:
    """The parts a task's identity is made of (see the module docstring).

    ``needs`` holds the needed tasks' :attr:`static_key` (their data is this task's:
    the same data set and fold); ``data`` is ``None`` where the crops are not at hand
    (``tables`` without a crop cache), and :meth:`matches` then compares the rest.
    """

    method: str
    options: str
    code: str
    needs: dict[str, str]
    seed: int
    data: str | None = None
    evaluation: str = ""

    @property
    def static_key(self) -> str:
        """Everything but the data and the evaluation: what the code and options decide."""
        return config_hash({"method": self.method, "options": self.options,
                            "code": self.code, "needs": self.needs, "seed": self.seed})

    @property
    def training_key(self) -> str:
        """The key of every artifact the task trains: the static key and the data."""
        return config_hash({"static": self.static_key, "data": self.data})

    @property
    def identity(self) -> str:
        """The identity of the task's record."""
        return config_hash({"training": self.training_key, "evaluation": self.evaluation})

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "static_key": self.static_key,
                "training_key": self.training_key, "identity": self.identity}

    def differences(self, stored: dict[str, Any]) -> list[str]:
        """The parts in which a stored record's provenance differs from this one."""
        parts = ["options", "code", "needs", "seed", "evaluation"]
        if self.data is not None:
            parts.insert(3, "data")
        return [p for p in parts if stored.get(p) != getattr(self, p)]

    def matches(self, stored: dict[str, Any] | None) -> bool:
        """Whether a record with provenance ``stored`` was made by this task (its data
        unchecked when :attr:`data` is unknown)."""
        if not stored:
            return False
        if self.data is not None:
            return stored.get("identity") == self.identity
        return (stored.get("static_key") == self.static_key
                and stored.get("evaluation") == self.evaluation)


def task_provenance(cls: type, options: Any, seed: int, data: str | None = None,
                    needs: dict[str, str] | None = None, evaluation: str = ""
                    ) -> TaskProvenance:
    """The provenance of a task of method ``cls`` built with ``options`` (its built
    ``Options``); ``needs``: the static keys of the tasks it needs."""
    return TaskProvenance(method=cls.name or cls.__name__,
                          options=config_hash(identity_options(options)),
                          code=method_code(cls), needs=dict(sorted((needs or {}).items())),
                          seed=int(seed), data=data, evaluation=evaluation)

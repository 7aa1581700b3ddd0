"""One planner: a profile (and the command line's changes to it) -> an immutable plan.

The plan holds every task of a run resolved once: its method's options (defaults,
``[options.<group>]`` sections, ``[options.<method>]``, then the method's pins), its
seed, the tasks it needs (its :attr:`~methods.base.Matcher.requires`, resolved on the
same fold), its wave and its identity. Everything downstream reads the plan instead of
deriving any of this again: the runner (which tasks to skip), ``run --dry-run``, the
executors and ``tables``/``compare`` (which records are current).

A task's identity is a hash of everything that decides its record without the data:
the data set and its options, the crop size and preprocessing version, the method, the
fold, its resolved options and seed, and the run's trials, protocol and evaluation
rules. Which methods run, how many folds (fold k is the same for any count), the device
and the data set's root folder are not part of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from benchmark.config import Profile
from benchmark.datasets.base import get_dataset
from benchmark.errors import ConfigError
from benchmark.options import build_options
from benchmark.protocol import EVALUATION_VERSION
from methods.context import TaskInput, config_hash, derive_seed
from methods.registry import get_method


@dataclass(frozen=True)
class ResolvedTask:
    """One (method, fold) task with everything it runs with.

    Attributes:
        method, fold: which task.
        options: the method's fully resolved options (``dataclasses.asdict`` of its
            built ``Options``); read them, never change them.
        seed: the seed the method trains with.
        needs: the tasks of :attr:`~methods.base.Matcher.requires` on the same fold.
        wave: the dependency depth among the plan's tasks; ``None`` for a task the plan
            resolves only as another task's input (its method is not run).
        settings: what :attr:`identity` hashes (stored as the record's ``config``).
        identity: the hash a record of this task carries (``task_hash``).
    """

    method: str
    fold: int
    options: dict[str, Any] = field(hash=False)
    seed: int
    needs: tuple[ResolvedTask, ...] = field(hash=False)
    wave: int | None
    settings: dict[str, Any] = field(hash=False, repr=False)
    identity: str

    @property
    def key(self) -> tuple[str, int]:
        return self.method, self.fold

    def as_input(self) -> TaskInput:
        """What a method that needs this task is told about it."""
        return TaskInput(method=self.method, fold=self.fold, options=self.options,
                         seed=self.seed)

    def is_current(self, record: dict[str, Any] | None) -> bool:
        """Whether ``record`` was made by exactly this task."""
        return record is not None and record.get("task_hash") == self.identity


@dataclass(frozen=True)
class RunPlan:
    """A run's tasks, resolved once; see the module docstring.

    ``profile`` is the profile the run uses, named ``<profile>+<settings key>`` when its
    settings differ from the profile's own (:func:`plan_run`).
    """

    profile: Profile
    settings_key: str
    tasks: tuple[ResolvedTask, ...]
    shared: dict[str, Any] = field(hash=False, repr=False)

    @property
    def name(self) -> str:
        return self.profile.name

    def methods(self) -> list[str]:
        """The methods the plan runs, in run order."""
        return list(dict.fromkeys(t.method for t in self.tasks))

    def waves(self) -> list[list[ResolvedTask]]:
        """The tasks grouped so that every task's requirements are in earlier waves."""
        count = max((t.wave for t in self.tasks if t.wave is not None), default=-1) + 1
        return [[t for t in self.tasks if t.wave == number] for number in range(count)]

    def task(self, method: str, fold: int) -> ResolvedTask:
        """The plan's task of ``method`` on ``fold``; a method or fold the plan does not
        run (e.g. a record's, for ``tables``) is resolved under the same profile."""
        for task in self.tasks:
            if task.key == (method, fold):
                return task
        return _resolve(self.profile, self.shared, method, fold, {}, {})

    def is_current(self, record: dict[str, Any]) -> bool:
        """Whether a stored record is the one this plan's task of its method and fold makes."""
        try:
            task = self.task(record["method"], record["fold"])
        except ConfigError:  # a method no longer registered
            return False
        return task.is_current(record)


def shared_settings(profile: Profile) -> dict[str, Any]:
    """What every task of the profile shares in its identity: data set, crops, evaluation."""
    run = profile.run
    dataset = get_dataset(run.dataset, **profile.dataset)
    return {"dataset": run.dataset,
            "dataset_options": {k: v for k, v in profile.dataset.items() if k != "root"},
            "image_size": list(run.image_size),
            "preprocess_version": dataset.preprocess_version,
            "seed": run.seed, "trials": run.trials, "protocol": run.protocol,
            "evaluation_version": EVALUATION_VERSION, "authors_bug": run.authors_bug,
            "single_shot": run.single_shot}


def settings_key(profile: Profile, shared: dict[str, Any] | None = None) -> str:
    """A short hash of every setting of the profile that can change a record's numbers
    (the shared settings and every option section): names a variant's records."""
    shared = shared_settings(profile) if shared is None else shared
    return config_hash({**shared, "options": profile.options})[:8]


def resolved_options(profile: Profile, method: str) -> dict[str, Any]:
    """Every option ``method`` runs with under ``profile``: defaults, sections, pins."""
    cls = get_method(method)
    given = cls.resolve_options(profile.method_options(method, cls.option_group))
    options = build_options(cls.Options, given, f"{profile.source}: options of method "
                                                f"{method!r}")
    return dataclasses.asdict(options)


def task_seed(profile: Profile, method: str, fold: int) -> int:
    """The seed of ``method`` on ``fold``: its own, or its ``seed_method``'s (an ablation
    then differs from its base method in its pinned option only)."""
    return derive_seed(profile.run.seed, get_method(method).seed_method or method, fold)


def _resolve(profile: Profile, shared: dict[str, Any], method: str, fold: int,
             waves: dict[str, int], done: dict[tuple[str, int], ResolvedTask],
             chain: tuple[str, ...] = ()) -> ResolvedTask:
    """``method`` on ``fold`` with its requirements, each resolved once (``done``; the
    options of a method once for all its folds)."""
    if (method, fold) in done:
        return done[(method, fold)]
    if method in chain:
        raise ConfigError(f"methods depend on each other in a cycle: {chain + (method,)}")
    cls = get_method(method)
    needs = tuple(_resolve(profile, shared, name, fold, waves, done, chain + (method,))
                  for name in cls.requires)
    resolved = next((t for (m, _), t in done.items() if m == method), None)
    options = resolved_options(profile, method) if resolved is None else resolved.options
    seed = task_seed(profile, method, fold)
    settings = {**shared, "method": method, "fold": fold,
                "settings": [list(s) for s in cls.settings], "options": options,
                "method_seed": seed}
    task = ResolvedTask(method=method, fold=fold, options=options, seed=seed, needs=needs,
                        wave=waves.get(method), settings=settings,
                        identity=config_hash(settings))
    done[(method, fold)] = task
    return task


def _run_order(methods: list[str]) -> dict[str, int]:
    """Each method's wave: 1 + the deepest of its requirements that also run (0 if none),
    in the order requirements first, then as listed."""
    names = list(dict.fromkeys(methods))
    classes = {name: get_method(name) for name in names}
    waves: dict[str, int] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in waves or name not in classes:
            return
        if name in chain:
            raise ConfigError(f"methods depend on each other in a cycle: {chain + (name,)}")
        needed = [r for r in classes[name].requires if r in classes]
        for requirement in needed:
            visit(requirement, chain + (name,))
        waves[name] = 1 + max((waves[r] for r in needed), default=-1)

    for name in names:
        visit(name, ())
    return waves


def plan_run(profile: Profile, base: Profile | None = None,
             changes: list[str] | None = None) -> RunPlan:
    """The plan of ``profile``; with ``base`` (the same profile without the command
    line's setting changes) a run whose settings differ from ``base``'s is renamed
    ``<base name>+<settings key>``, so that its records never replace or mix with the
    profile's own."""
    shared = shared_settings(profile)
    key = settings_key(profile, shared)
    if base is not None and settings_key(base) != key:
        profile = dataclasses.replace(profile, name=f"{base.name}+{key}",
                                      changes=list(changes or []))
    waves = _run_order(profile.run.methods)
    done: dict[tuple[str, int], ResolvedTask] = {}
    tasks = tuple(_resolve(profile, shared, method, fold, waves, done)
                  for method in waves for fold in range(profile.run.folds))
    return RunPlan(profile=profile, settings_key=key, tasks=tasks, shared=shared)

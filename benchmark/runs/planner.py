"""One planner: a profile (and the command line's changes to it) -> an immutable plan.

The plan holds every task of a run resolved once: its method's options (the fields of
its ``[options.<group>]`` sections its class declares, then ``[options.<method>]``,
then the method's pins), its seed, the tasks it needs (its
:attr:`~methods.core.matcher.Matcher.requires`, resolved on the same fold), its wave and its
provenance (:class:`methods.core.identity.TaskProvenance`): options digest, code digest,
needs, data digest, seed and evaluation, from which its identity and the keys of
everything it trains come. Everything downstream reads the plan instead of deriving any
of this again: the runner (which tasks to skip), ``run --dry-run``, the executors and
``tables``/``compare`` (which records are current).

With ``[run] seeds = N`` (``--seeds N``) every method that trains with randomness gets
N tasks per fold, one per training seed (seed index 0 is the seed a one-seed run uses,
so its records serve both); a method whose class declares ``deterministic_fit`` gets
one, which stands for every seed (:func:`seed_indices`).

Records are found by identity: a changed setting reruns exactly the tasks whose
identity it changes, and every other record is reused in place. Which methods run, how
many folds (fold k is the same for any count), the device, the data set's root folder,
thread counts and other speed-only settings are not part of any identity.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.datasets.base import Dataset, cached_frames, crops_digest, get_dataset
from benchmark.evaluation.protocol import EVALUATION_VERSION, draw_single_shot_gallery, single_shot
from benchmark.runs.config import Profile
from benchmark.runs.records import record_seed_index
from methods.core.context import TaskInput, config_hash, derive_seed
from methods.core.errors import ConfigError
from methods.core.fingerprint import code_digest
from methods.core.identity import TaskProvenance, task_provenance
from methods.core.options import (
    build_options,
    declared_fields,
    merged_trees,
    moved_error,
    take_declared,
    undeclared,
)
from methods.core.registry import available_methods, get_method


@dataclass(frozen=True)
class ResolvedTask:
    """One (method, fold, training seed) task with everything it runs with.

    Attributes:
        method, fold: which task.
        seed_index: which of the run's training seeds (0: the seed of a one-seed run).
        options: the method's fully resolved options (``dataclasses.asdict`` of its
            built ``Options``); read them, never change them.
        seed: the seed the method trains with.
        needs: the tasks of :attr:`~methods.core.matcher.Matcher.requires` on the same fold.
        wave: the dependency depth among the plan's tasks; ``None`` for a task the plan
            resolves only as another task's input (its method is not run).
        settings: the run settings stored as the record's ``config``.
        provenance: the parts of its identity (:class:`~methods.core.identity.TaskProvenance`).
    """

    method: str
    fold: int
    options: dict[str, Any] = field(hash=False)
    seed: int
    needs: tuple[ResolvedTask, ...] = field(hash=False)
    wave: int | None
    settings: dict[str, Any] = field(hash=False, repr=False)
    provenance: TaskProvenance = field(hash=False, repr=False)
    seed_index: int = 0

    @property
    def key(self) -> tuple[str, int, int]:
        return self.method, self.fold, self.seed_index

    @property
    def label(self) -> str:
        """``<method> fold <k>``, with ``seed <s>`` for a seed other than the first."""
        seed = f" seed {self.seed_index}" if self.seed_index else ""
        return f"{self.method} fold {self.fold}{seed}"

    @property
    def identity(self) -> str:
        """The hash a record of this task carries (``task_hash``)."""
        return self.provenance.identity

    def as_input(self) -> TaskInput:
        """What a method that needs this task is told about it."""
        return TaskInput(method=self.method, fold=self.fold, options=self.options,
                         seed=self.seed, training_key=self.provenance.training_key,
                         static_key=self.provenance.static_key)

    def is_current(self, record: dict[str, Any] | None) -> bool:
        """Whether ``record`` was made by exactly this task."""
        return record is not None and self.provenance.matches(record.get("identity"))


@dataclass(frozen=True)
class RunPlan:
    """A run's tasks, resolved once; see the module docstring.

    ``profile`` is the profile the run uses (its records live under its name);
    ``variant`` names its tables: the profile's name, or ``<profile>+<settings key>``
    when the command line changed what some task computes (:func:`plan_run`).
    ``data`` holds each fold's data digest (``None`` where the crops are not cached).
    """

    profile: Profile
    variant: str
    tasks: tuple[ResolvedTask, ...]
    shared: dict[str, Any] = field(hash=False, repr=False)
    data: dict[int, str | None] = field(hash=False, repr=False, default_factory=dict)

    @property
    def name(self) -> str:
        return self.variant

    @property
    def settings_key(self) -> str:
        """The variant's key (the profile's name alone: ``""``)."""
        return self.variant.partition("+")[2]

    def with_data(self, cache_dir: Path) -> RunPlan:
        """This plan with each fold's data digest from the crop cache under ``cache_dir``
        (the runner builds the cache, then plans its tasks with their data)."""
        data = data_digests(self.profile, cache_dir)
        if data == self.data:
            return self
        return dataclasses.replace(self, tasks=_tasks(self.profile, self.shared, data),
                                   data=data)

    def methods(self) -> list[str]:
        """The methods the plan runs, in run order."""
        return list(dict.fromkeys(t.method for t in self.tasks))

    def waves(self) -> list[list[ResolvedTask]]:
        """The tasks grouped so that every task's requirements are in earlier waves."""
        count = max((t.wave for t in self.tasks if t.wave is not None), default=-1) + 1
        return [[t for t in self.tasks if t.wave == number] for number in range(count)]

    def task(self, method: str, fold: int, seed_index: int = 0) -> ResolvedTask:
        """The plan's task of ``method`` on ``fold`` with training seed ``seed_index``; a
        method or fold the plan does not run (e.g. a record's, for ``tables``) is resolved
        under the same profile."""
        for task in self.tasks:
            if task.key == (method, fold, seed_index):
                return task
        return _resolve(self.profile, self.shared, self.data, method, fold, {}, {},
                        seed_index=seed_index)

    def is_current(self, record: dict[str, Any]) -> bool:
        """Whether a stored record is the one this plan's task of its method, fold and
        seed makes (a seed index beyond the plan's ``seeds`` is not)."""
        index = record_seed_index(record)
        try:
            if index not in seed_indices(get_method(record["method"]),
                                         self.profile.run.seeds):
                return False
            task = self.task(record["method"], record["fold"], index)
        except ConfigError:  # a method no longer registered
            return False
        return task.is_current(record)


def shared_settings(profile: Profile) -> dict[str, Any]:
    """The run settings every task's record stores as its ``config``."""
    run = profile.run
    dataset = get_dataset(run.dataset, **profile.dataset)
    return {"dataset": run.dataset,
            "dataset_options": {k: v for k, v in profile.dataset.items() if k != "root"},
            "image_size": list(run.image_size),
            "preprocess_version": dataset.preprocess_version,
            "seed": run.seed, "trials": run.trials, "protocol": run.protocol,
            "evaluation_version": EVALUATION_VERSION, "authors_bug": run.authors_bug,
            "single_shot": run.single_shot}


def evaluation_digest(profile: Profile, settings: tuple[tuple[str, str], ...]) -> str:
    """What decides a record's numbers from a method's embeddings: the protocol's
    settings and seed, the (query, gallery) settings and the protocol's code."""
    run = profile.run
    return config_hash({"seed": run.seed, "trials": run.trials, "protocol": run.protocol,
                        "evaluation_version": EVALUATION_VERSION,
                        "authors_bug": run.authors_bug, "single_shot": run.single_shot,
                        "settings": [list(s) for s in settings],
                        "code": code_digest(single_shot, draw_single_shot_gallery)})


def data_digests(profile: Profile, cache_dir: Path | None, folds: int | None = None
                 ) -> dict[int, str | None]:
    """Each fold's data digest: the crops' fingerprint and the fold's identities (and
    split 0's training identities, which one authors'-code setting reads); ``None``
    per fold when the crop cache is not built (or no cache is given)."""
    count = profile.run.folds if folds is None else folds
    unknown: dict[int, str | None] = dict.fromkeys(range(count))
    if cache_dir is None:
        return unknown
    dataset = get_dataset(profile.run.dataset, **profile.dataset)
    size = (profile.run.image_size[0], profile.run.image_size[1])
    crops = crops_digest(dataset, size, cache_dir)
    frames = cached_frames(dataset, size, cache_dir) if crops else None
    if frames is None:
        return unknown
    return fold_digests(dataset, frames, crops, count, profile.run.seed)


def fold_digests(dataset: Dataset, frames: Any, crops: str, count: int, seed: int
                 ) -> dict[int, str]:
    """The data digest of each of ``count`` folds of ``frames`` (see :func:`data_digests`)."""
    folds = dataset.folds(frames, count, seed)
    split_zero = [int(p) for p in dataset.split_zero_train(frames, folds)]
    return {fold.index: config_hash({"crops": crops, "fold": fold.to_dict(),
                                     "split_zero_train": split_zero}) for fold in folds}


def check_group_options(profile: Profile) -> None:
    """Every key of a group section (``[options.deep]``, ...) is declared by some method of
    that group; an old flat key names its new place."""
    trees: dict[str, list[dict[str, Any]]] = {}
    renamed: dict[str, dict[str, str]] = {}
    for cls in available_methods().values():
        groups = cls.option_group
        for group in (groups,) if isinstance(groups, str) else tuple(groups or ()):
            trees.setdefault(group, []).append(declared_fields(cls.Options))
            renamed.setdefault(group, {}).update(getattr(cls.Options, "RENAMED", {}))
    for group, table in profile.options.items():
        if group not in trees or not isinstance(table, dict):
            continue
        unknown = undeclared(merged_trees(trees[group]), table)
        for key in unknown:
            if key in renamed[group]:
                raise moved_error(profile.source, key, renamed[group][key])
        if unknown:
            raise ConfigError(f"{profile.source}: [options.{group}]: unknown option(s) "
                              f"{unknown}: no method of that group reads them")


def resolved_options(profile: Profile, method: str) -> dict[str, Any]:
    """Every option ``method`` runs with under ``profile``: defaults, sections, pins."""
    return dataclasses.asdict(built_options(profile, method))


def built_options(profile: Profile, method: str) -> Any:
    """The ``Options`` of ``method`` under ``profile``: of its groups' sections the fields
    its class declares, then its own section (every key must be declared), then pins."""
    cls = get_method(method)
    given = profile.method_options(method, cls.option_group,
                                   functools.partial(take_declared, cls.Options))
    return build_options(cls.Options, cls.resolve_options(given),
                         f"{profile.source}: options of method {method!r}")


def task_seed(profile: Profile, method: str, fold: int, seed_index: int = 0) -> int:
    """The training seed ``seed_index`` of ``method`` on ``fold``: derived from the run
    seed, the method (its own, or its ``seed_method``'s: an ablation then differs from
    its base method in its pinned option only), the fold and, after the first, the seed
    index. Index 0 is the seed a one-seed run has always used."""
    name = get_method(method).seed_method or method
    if seed_index == 0:
        return derive_seed(profile.run.seed, name, fold)
    return derive_seed(profile.run.seed, name, fold, "training-seed", seed_index)


def seed_indices(cls: type, seeds: int) -> range:
    """The training seeds a method runs with: all ``seeds``, or only the first when its
    class declares ``deterministic_fit`` (its model does not depend on the seed, so one
    record stands for every seed)."""
    return range(1 if cls.deterministic_fit else seeds)


def _resolve(profile: Profile, shared: dict[str, Any], data: dict[int, str | None],
             method: str, fold: int, waves: dict[str, int],
             done: dict[tuple[str, int, int], ResolvedTask], chain: tuple[str, ...] = (),
             seed_index: int = 0) -> ResolvedTask:
    """``method`` on ``fold`` with training seed ``seed_index`` and its requirements, each
    resolved once (``done``; the options of a method once for all its folds and seeds).
    A requirement is resolved with the same seed index (a student's teacher is trained
    with the student's seed index), or the first where it has a deterministic fit."""
    if (method, fold, seed_index) in done:
        return done[(method, fold, seed_index)]
    if method in chain:
        raise ConfigError(f"methods depend on each other in a cycle: {chain + (method,)}")
    cls = get_method(method)
    needs = tuple(_resolve(profile, shared, data, name, fold, waves, done,
                           chain + (method,),
                           0 if get_method(name).deterministic_fit
                           else seed_index) for name in cls.requires)
    resolved = next((t for (m, _, _), t in done.items() if m == method), None)
    if resolved is None:
        built = built_options(profile, method)
        options = dataclasses.asdict(built)
        provenance = task_provenance(
            cls, built, 0, evaluation=evaluation_digest(profile, cls.settings))
    else:
        options, provenance = resolved.options, resolved.provenance
    seed = task_seed(profile, method, fold, seed_index)
    provenance = dataclasses.replace(
        provenance, seed=seed, data=data.get(fold),
        needs={t.method: t.provenance.static_key for t in needs})
    settings = {**shared, "method": method, "fold": fold,
                "settings": [list(s) for s in cls.settings], "options": options,
                "method_seed": seed, "seed_index": seed_index}
    task = ResolvedTask(method=method, fold=fold, options=options, seed=seed, needs=needs,
                        wave=waves.get(method), settings=settings, provenance=provenance,
                        seed_index=seed_index)
    done[(method, fold, seed_index)] = task
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
             changes: list[str] | None = None, cache_dir: Path | None = None) -> RunPlan:
    """The plan of ``profile``, with each fold's data digest from the crop cache under
    ``cache_dir`` when it is built. With ``base`` (the same profile without the command
    line's setting changes) the plan's ``variant`` is ``<base name>+<settings key>`` when
    the changes alter some task's identity, and ends in ``+seeds<N>`` when they change
    the number of training seeds, so that its tables never replace the profile's; its
    records sit beside the profile's, found by identity."""
    check_group_options(profile)
    shared = shared_settings(profile)
    data = data_digests(profile, cache_dir)
    tasks = _tasks(profile, shared, data)
    variant = profile.name
    if base is not None:
        check_group_options(base)
        own = {t.key: _static(t) for t in _tasks(base, shared_settings(base), data)}
        if any(own.get(t.key, _static(t)) != _static(t) for t in tasks):
            key = config_hash([_static(t) for t in tasks])[:8]
            variant = f"{base.name}+{key}"
        if profile.run.seeds != base.run.seeds:
            variant += f"+seeds{profile.run.seeds}"
        if variant != profile.name:
            profile = dataclasses.replace(profile, changes=list(changes or []))
    return RunPlan(profile=profile, variant=variant, tasks=tasks, shared=shared, data=data)


def _static(task: ResolvedTask) -> tuple[str, str]:
    return task.provenance.static_key, task.provenance.evaluation


def _tasks(profile: Profile, shared: dict[str, Any], data: dict[int, str | None]
           ) -> tuple[ResolvedTask, ...]:
    waves = _run_order(profile.run.methods)
    done: dict[tuple[str, int, int], ResolvedTask] = {}
    return tuple(_resolve(profile, shared, data, method, fold, waves, done, seed_index=index)
                 for method in waves
                 for index in seed_indices(get_method(method), profile.run.seeds)
                 for fold in range(profile.run.folds))

"""Runs a profile: every (method, fold) task, each writing its record when it ends.

A task reads only the crop cache and the artifact store and writes only its record and
its artifacts, so tasks can run in any process (see :mod:`benchmark.executors`); a
rerun skips every task whose record was made from the same configuration.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.config import Profile
from benchmark.datasets.base import Dataset, get_dataset, load_frames
from benchmark.datasets.frames import PairedFrames
from benchmark.datasets.stored import stored_crops
from benchmark.errors import BenchmarkError, ConfigError
from benchmark.locks import task_lock
from benchmark.options import build_options, merge_tables
from benchmark.protocol import EVALUATION_VERSION, single_shot
from benchmark.provenance import provenance
from benchmark.records import RecordStore
from benchmark.splits import Fold
from methods.base import Matcher
from methods.context import TaskContext, config_hash, derive_seed
from methods.registry import get_method

log = logging.getLogger("rgbd_bench")


@dataclass(frozen=True)
class Paths:
    """Where a run keeps its records (``output``) and its caches (``cache``)."""

    output: Path
    cache: Path

    def record_store(self, profile: Profile) -> RecordStore:
        return RecordStore(self.output / "records", profile.name)


@dataclass(frozen=True)
class Task:
    """One unit of work: a method on one fold of the profile's data set."""

    method: str
    fold: int


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def open_dataset(profile: Profile, paths: Paths) -> tuple[Dataset, PairedFrames, list[Fold]]:
    """The profile's data set, its cached crops and its folds."""
    dataset = get_dataset(profile.run.dataset, **profile.dataset)
    size = (profile.run.image_size[0], profile.run.image_size[1])
    frames = load_frames(dataset, size, paths.cache)
    folds = dataset.folds(frames, profile.run.folds, profile.run.seed)
    for fold in folds:
        for part in ("train", "val", "test"):
            if len(getattr(fold, part)) == 0:
                raise BenchmarkError(f"fold {fold.index} of data set {dataset.name!r} has an "
                                     f"empty {part} split")
    return dataset, frames, folds


def plan_tasks(profile: Profile) -> list[Task]:
    """Every task of the profile, methods whose artifacts others reuse first."""
    names = list(dict.fromkeys(profile.run.methods))
    classes = {name: get_method(name) for name in names}
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order or name not in classes:
            return
        if name in chain:
            raise ConfigError(f"methods depend on each other in a cycle: {chain + (name,)}")
        for requirement in classes[name].requires:
            visit(requirement, chain + (name,))
        order.append(name)

    for name in names:
        visit(name, ())
    return [Task(name, k) for name in order for k in range(profile.run.folds)]


def resolved_options(profile: Profile, method: str) -> dict[str, Any]:
    """Every option ``method`` runs with under ``profile``: defaults, sections, pins."""
    cls = get_method(method)
    given = merge_tables(profile.method_options(method, cls.option_group), cls.pinned)
    options = build_options(cls.Options, given, f"{profile.source}: method {method!r}")
    return dataclasses.asdict(options)


def task_config(profile: Profile, dataset: Dataset, fold: Fold, cls: type[Matcher],
                options: dict[str, Any], size: tuple[int, int]) -> dict[str, Any]:
    """Exactly what determines a task's record; its hash decides whether to rerun."""
    return {"dataset": dataset.name, "dataset_key": dataset.cache_key(size),
            "method": cls.name, "fold": fold.to_dict(),
            "settings": [list(s) for s in cls.settings], **run_settings(profile, options)}


def run_settings(profile: Profile, options: dict[str, Any]) -> dict[str, Any]:
    """The part of :func:`task_config` known without the data set: the method's options
    and the run's seed, trials, protocol and evaluation version."""
    run = profile.run
    return {"options": options, "seed": run.seed, "trials": run.trials,
            "protocol": run.protocol, "evaluation_version": EVALUATION_VERSION,
            "authors_bug": run.authors_bug, "single_shot": run.single_shot}


def record_is_current(profile: Profile, record: dict[str, Any], method: str) -> bool:
    """Whether a stored record of ``method`` was made with the :func:`run_settings`
    ``profile`` gives it (the folds need the crops; a run compares the full task hash)."""
    cls = get_method(method)
    expected = run_settings(profile, profile.method_options(method, cls.option_group))
    config = record.get("config") or {}
    return config_hash({key: config.get(key) for key in expected}) == config_hash(expected)


def ranking_examples(embeddings: dict[str, np.ndarray], test: PairedFrames,
                     settings: tuple[tuple[str, str], ...], distance, seed: int,
                     queries: int = 4, top: int = 5) -> dict[str, list[dict[str, Any]]]:
    """A few queries of the first trial's gallery and their top-ranked gallery frames.

    Stored in the record so that qualitative figures (the paper's Figure 5) can be drawn
    from records and the crop cache alone.
    """
    from benchmark.protocol import draw_single_shot_gallery

    out = {}
    for query, gallery in settings:
        chosen = draw_single_shot_gallery(test.pids, np.random.default_rng(seed))
        picks = np.random.default_rng([seed, 1]).choice(
            np.setdiff1d(np.arange(len(test)), chosen), size=min(queries, len(test) - len(chosen)),
            replace=False)
        distmat = distance(embeddings[query][picks], embeddings[gallery][chosen])
        order = np.argsort(distmat, axis=1, kind="stable")[:, :top]
        out[f"{query}->{gallery}"] = [
            {"query_frame": int(test.frames[q]), "query_pid": int(test.pids[q]),
             "gallery_frames": [int(f) for f in test.frames[chosen][row]],
             "gallery_pids": [int(p) for p in test.pids[chosen][row]]}
            for q, row in zip(picks, order, strict=True)]
    return out


def run_task(profile: Profile, task: Task, paths: Paths, *, quiet: bool = False,
             opened: tuple[Dataset, PairedFrames, list[Fold]] | None = None,
             force: bool = False) -> dict[str, Any]:
    """Run one task (unless its record exists) and write its record; returns the record."""
    dataset, frames, folds = opened or open_dataset(profile, paths)
    fold = folds[task.fold]
    size = frames.image_size
    cls = get_method(task.method)
    options = profile.method_options(task.method, cls.option_group)
    config = task_config(profile, dataset, fold, cls, options, size)
    task_hash = config_hash(config)
    store = paths.record_store(profile)
    existing = None if force else store.read(dataset.name, task.method, task.fold)
    if existing is not None and existing.get("task_hash") == task_hash:
        log.info("%s fold %d: finished earlier, skipped", task.method, task.fold)
        return existing
    context = TaskContext(artifact_root=paths.cache / "artifacts",
                          dataset_key=dataset.cache_key(size), fold=task.fold,
                          seed=derive_seed(profile.run.seed, task.method, task.fold),
                          device=resolve_device(profile.run.device), quiet=quiet,
                          run_seed=profile.run.seed,
                          first_fold_train=lambda: frames.of_identities(
                              dataset.split_zero_train(frames, folds)),
                          stored_crops=lambda: stored_crops(dataset, frames, paths.cache))
    matcher = cls(context=context, **options)
    train = frames.of_identities(fold.train)
    started = time.perf_counter()
    matcher.fit(train, frames.of_identities(fold.val))
    fitted = time.perf_counter()
    test = frames.of_identities(fold.test)
    embeddings = {m: matcher.embed_frames(test, m) for m in
                  dict.fromkeys(mod for setting in cls.settings for mod in setting)}
    embedded = time.perf_counter()
    protocol_seed = derive_seed(profile.run.seed, "protocol", task.fold)
    results = {}
    for query, gallery in cls.settings:
        results[f"{query}->{gallery}"] = single_shot(
            embeddings[query], test.pids, test.frames, embeddings[gallery], test.pids,
            test.frames, same_modality=query == gallery, trials=profile.run.trials,
            seed=protocol_seed, protocol=profile.run.protocol,
            authors_bug=profile.run.authors_bug, distance=matcher.distance,
            single_shot_rule=profile.run.single_shot)
    outcomes = {setting: result.pop("outcomes") for setting, result in results.items()
                if "outcomes" in result}
    examples = ranking_examples(embeddings, test, cls.settings, matcher.distance,
                                protocol_seed)
    finished = time.perf_counter()
    record = {"dataset": dataset.name, "method": task.method, "fold": task.fold,
              "profile": profile.name, "settings_key": profile.settings_key(),
              "task_hash": task_hash, "config": config,
              "method_config": matcher.config(),
              "seeds": {"method": context.seed, "protocol": protocol_seed},
              "results": results, "examples": examples,
              "timings": {"fit_s": fitted - started, "embed_s": embedded - fitted,
                          "evaluate_s": finished - embedded, "total_s": finished - started},
              "counts": {"train": len(train), "test": len(test)},
              "provenance": provenance()}
    path = store.write(record, outcomes)
    log.info("%s fold %d: done in %.1fs -> %s", task.method, task.fold,
             finished - started, path)
    return record


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised: which one, and the exception in one line."""

    task: Task
    reason: str

    def line(self) -> str:
        return f"{self.task.method} fold {self.task.fold}: {self.reason}"


class TasksFailed(BenchmarkError):
    """Some tasks failed; the others ran and wrote their records."""

    def __init__(self, failures: list[TaskFailure], records: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(failures)} task(s) failed: "
                         + "; ".join(f.line() for f in failures))
        self.failures = failures
        self.records = records


_CORRUPT_CHECKPOINT = ("PytorchStreamReader", "unpickling", "Ran out of input")


def failure_reason(error: Exception, paths: Paths, dataset: Dataset, profile: Profile,
                   task: Task) -> str:
    """The exception in one line; a corrupt stored network also names its artifact folder."""
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    if isinstance(error, EOFError) or any(m in str(error) for m in _CORRUPT_CHECKPOINT):
        size = (profile.run.image_size[0], profile.run.image_size[1])
        folder = paths.cache / "artifacts" / dataset.cache_key(size) / f"fold{task.fold}"
        reason += (f" (a stored network under {folder} is truncated or corrupt; delete that "
                   f"folder to train it again)")
    return reason


def debug_enabled() -> bool:
    """``--debug`` or ``RGBD_BENCH_DEBUG=1``: show tracebacks of failed tasks."""
    return os.environ.get("RGBD_BENCH_DEBUG", "") not in ("", "0")


def _requirements(method: str) -> tuple[str, ...]:
    return get_method(method).requires


def run_profile(profile: Profile, paths: Paths, *, quiet: bool = False,
                force: bool = False) -> list[dict[str, Any]]:
    """Run every task of the profile in this process, in dependency order.

    A task that raises is reported in one line and skipped (with the tasks that need it);
    the others still run, and :class:`TasksFailed` is raised at the end. A task that
    another run on the same output is computing is left for later and then read back,
    so concurrent runs share the work instead of repeating it.
    """
    from tqdm import tqdm

    tasks = plan_tasks(profile)
    opened = open_dataset(profile, paths)
    store = paths.record_store(profile)
    records: dict[Task, dict[str, Any]] = {}
    failures: dict[Task, TaskFailure] = {}
    bar = tqdm(total=len(tasks), desc="tasks", unit="task", disable=quiet)

    def attempt(task: Task, wait: bool) -> bool:
        needed = [f for t, f in failures.items()
                  if t.fold == task.fold and t.method in _requirements(task.method)]
        if needed:
            failures[task] = TaskFailure(task, f"skipped: needs {needed[0].task.method}, "
                                               f"which failed")
            log.error("task skipped: %s", failures[task].line())
            bar.update()
            return True
        with task_lock(store.lock_path(profile.run.dataset, task.method, task.fold),
                       wait) as held:
            if not held:
                return False
            try:
                records[task] = run_task(profile, task, paths, quiet=quiet, opened=opened,
                                         force=force)
            except Exception as error:  # one method's bug must not stop the others
                failures[task] = TaskFailure(task, failure_reason(error, paths, opened[0],
                                                                  profile, task))
                log.error("task failed: %s", failures[task].line(), exc_info=debug_enabled())
        bar.update()
        return True

    deferred: list[Task] = []
    try:
        for task in tasks:
            waits_for = {t.method for t in deferred} & set(_requirements(task.method))
            if waits_for or not attempt(task, wait=False):
                log.info("%s fold %d: another run is on it or on what it needs; later",
                         task.method, task.fold)
                deferred.append(task)
        for task in deferred:
            attempt(task, wait=True)
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: say how far the run got
        stop.progress = (len(records), len(tasks))
        raise
    finally:
        bar.close()
    done = [records[t] for t in tasks if t in records]
    if failures:
        raise TasksFailed([failures[t] for t in tasks if t in failures], done)
    return done

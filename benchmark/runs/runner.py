"""Runs a profile: every (method, fold) task, each writing its record when it ends.

A task reads only the crop cache and the artifact store and writes only its record and
its artifacts, so tasks can run in any process (see :mod:`benchmark.runs.executors`); a
rerun skips every task whose record is current: made by the same resolved task of the
plan (:mod:`benchmark.runs.planner`).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.datasets.base import Dataset, crops_digest, get_dataset, load_frames, stored_crops
from benchmark.evaluation.protocol import single_shot
from benchmark.evaluation.splits import Fold
from benchmark.runs.config import Profile
from benchmark.runs.planner import ResolvedTask, RunPlan
from benchmark.runs.provenance import provenance
from benchmark.runs.records import RecordStore
from methods.core.context import ArtifactUse, TaskContext, derive_seed
from methods.core.errors import BenchmarkError
from methods.core.frames import PairedFrames
from methods.core.locks import task_lock
from methods.core.matcher import Matcher
from methods.core.registry import get_method

log = logging.getLogger("rgbd_bench")


@dataclass(frozen=True)
class Paths:
    """Where a run keeps its records (``output``) and its caches (``cache``)."""

    output: Path
    cache: Path

    def record_store(self, profile: Profile) -> RecordStore:
        return RecordStore(self.output / "records", profile.name)


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


def ranking_examples(embeddings: dict[str, np.ndarray], test: PairedFrames,
                     settings: tuple[tuple[str, str], ...], distance, seed: int,
                     queries: int = 4, top: int = 5) -> dict[str, list[dict[str, Any]]]:
    """A few queries of the first trial's gallery and their top-ranked gallery frames.

    Stored in the record so that qualitative figures (the paper's Figure 5) can be drawn
    from records and the crop cache alone.
    """
    from benchmark.evaluation.protocol import draw_single_shot_gallery

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


@dataclass(frozen=True)
class Fitted:
    """A task's method fitted on its fold and its test frames embedded, per modality."""

    dataset: Dataset
    fold: Fold
    context: TaskContext
    matcher: Matcher
    train_frames: int
    test: PairedFrames
    embeddings: dict[str, np.ndarray]
    started: float
    embedded: float
    timings: dict[str, float]


def fit_and_embed(plan: RunPlan, task: ResolvedTask, paths: Paths,
                  opened: tuple[Dataset, PairedFrames, list[Fold]], *, quiet: bool = False,
                  force: bool = False, recomputed: set[Path] | None = None) -> Fitted:
    """Fit the task's method on its fold's train (and val) identities and embed the fold's
    test frames in every modality its settings use: what :func:`run_task` evaluates and
    ``export-rankings`` ranks. Stored networks and features are loaded, not retrained."""
    profile = plan.profile
    dataset, frames, folds = opened
    fold = folds[task.fold]
    size = frames.image_size
    cls = get_method(task.method)
    context = TaskContext(artifact_root=paths.cache / "artifacts",
                          dataset_key=dataset.cache_key(size), fold=task.fold,
                          seed=task.seed, device=resolve_device(profile.run.device),
                          quiet=quiet, run_seed=profile.run.seed,
                          first_fold_train=lambda: frames.of_identities(
                              dataset.split_zero_train(frames, folds)),
                          stored_crops=lambda: stored_crops(dataset, frames, paths.cache),
                          inputs={t.method: t.as_input() for t in task.needs},
                          task_key=task.provenance.training_key, force=force,
                          recomputed=set() if recomputed is None else recomputed)
    matcher = cls(context=context, **task.options)
    train = frames.of_identities(fold.train)
    started = time.perf_counter()
    matcher.fit(train, frames.of_identities(fold.val))
    fitted = time.perf_counter()
    test = frames.of_identities(fold.test)
    embeddings = {m: matcher.embed_frames(test, m) for m in
                  dict.fromkeys(mod for setting in cls.settings for mod in setting)}
    embedded = time.perf_counter()
    return Fitted(dataset, fold, context, matcher, len(train), test, embeddings, started,
                  embedded, {"fit_s": fitted - started, "embed_s": embedded - fitted})


def run_task(plan: RunPlan, task: ResolvedTask, paths: Paths, *, quiet: bool = False,
             opened: tuple[Dataset, PairedFrames, list[Fold]] | None = None,
             force: bool = False, recomputed: set[Path] | None = None) -> dict[str, Any]:
    """Run one task of the plan (unless its current record exists) and write its record;
    returns the record. ``force`` recomputes it for real: its record is removed first (a
    failure leaves none standing as current) and its networks and features are
    recomputed, not loaded (``recomputed``: what forced tasks of this run already
    recomputed, shared by them)."""
    profile = plan.profile
    store = paths.record_store(profile)
    where = (profile.run.dataset, task.method, task.fold, task.identity)
    if force:
        store.remove(*where)
    elif task.provenance.data is not None:
        existing = store.read(*where)
        if task.is_current(existing):
            log.info("%s fold %d: finished earlier, skipped", task.method, task.fold)
            return existing
    if task.provenance.data is None:
        raise BenchmarkError(f"{task.method} fold {task.fold}: the plan has no data digest "
                             f"(plan the run after its crop cache is built)")
    fitted = fit_and_embed(plan, task, paths, opened or open_dataset(profile, paths),
                           quiet=quiet, force=force, recomputed=recomputed)
    dataset, fold, test, matcher = fitted.dataset, fitted.fold, fitted.test, fitted.matcher
    cls, context, embeddings = type(matcher), fitted.context, fitted.embeddings
    size = test.image_size
    protocol_seed = derive_seed(profile.run.seed, "protocol", task.fold)
    passages = dataset.passages(test) if profile.run.protocol == "tvrid" else None
    results = {}
    for query, gallery in cls.settings:
        results[f"{query}->{gallery}"] = single_shot(
            embeddings[query], test.pids, test.frames, embeddings[gallery], test.pids,
            test.frames, same_modality=query == gallery, trials=profile.run.trials,
            seed=protocol_seed, protocol=profile.run.protocol,
            authors_bug=profile.run.authors_bug, distance=matcher.distance,
            single_shot_rule=profile.run.single_shot, passages=passages)
    outcomes = {setting: result.pop("outcomes") for setting, result in results.items()
                if "outcomes" in result}
    examples = ranking_examples(embeddings, test, cls.settings, matcher.distance,
                                protocol_seed)
    finished = time.perf_counter()
    artifacts = sorted(str(path.relative_to(context.artifact_root)) for path in context.used)
    uses = context.artifact_uses()
    crops = crops_digest(dataset, size, paths.cache)
    record = {"dataset": dataset.name, "method": task.method, "fold": task.fold,
              "profile": profile.name, "settings_key": plan.settings_key,
              "task_hash": task.identity, "identity": task.provenance.to_dict(),
              "artifacts": artifacts, "artifact_use": [use.to_dict() for use in uses],
              "crops": crops,
              "config": {**task.settings, "fold": fold.to_dict()},
              "method_config": matcher.config(),
              "seeds": {"method": context.seed, "protocol": protocol_seed},
              "results": results, "examples": examples,
              "timings": {**fitted.timings, "evaluate_s": finished - fitted.embedded,
                          "total_s": finished - fitted.started},
              "counts": {"train": fitted.train_frames, "test": len(test)},
              "provenance": provenance(getattr(matcher.options, "compute", None))}
    path = store.write(record, outcomes)
    log.info("%s fold %d: %s; done in %.1fs -> %s", task.method, task.fold,
             what_it_did(uses, context.dataset_key), finished - fitted.started, path)
    return record


def what_it_did(uses: list[ArtifactUse], dataset_key: str) -> str:
    """One phrase for a task's line: what it trained, computed or loaded, and from which
    artifact folders (relative to the data set's artifacts); a task that only loaded
    was re-evaluated."""
    if not uses:
        return "computed, nothing stored"
    by_state: dict[str, list[str]] = {}
    for use in uses:
        by_state.setdefault(use.state, []).append(use.artifact.removeprefix(dataset_key + "/"))
    phrase = "; ".join(f"{state} {', '.join(folders)}" for state, folders in by_state.items())
    return f"re-evaluated ({phrase})" if set(by_state) == {"loaded"} else phrase


@dataclass(frozen=True)
class TaskFailure:
    """A task that raised: which one, the exception in one line and, where it raised in
    another process (a Slurm job), its traceback for ``--debug``."""

    task: ResolvedTask
    reason: str
    trace: str = ""

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
                   task: ResolvedTask) -> str:
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


def run_profile(plan: RunPlan, paths: Paths, *, quiet: bool = False,
                force: bool = False) -> list[dict[str, Any]]:
    """Run every task of the plan in this process, in dependency order.

    A task that raises is reported in one line and skipped (with the tasks that need it);
    the others still run, and :class:`TasksFailed` is raised at the end. A task that
    another run on the same output is computing is left for later and then read back,
    so concurrent runs share the work instead of repeating it.
    """
    from tqdm import tqdm

    opened = open_dataset(plan.profile, paths)
    plan = plan.with_data(paths.cache)
    profile, tasks = plan.profile, plan.tasks
    store = paths.record_store(profile)
    records: dict[tuple[str, int], dict[str, Any]] = {}
    failures: dict[tuple[str, int], TaskFailure] = {}
    bar = tqdm(total=len(tasks), desc="tasks", unit="task", disable=quiet)
    recomputed: set[Path] = set()

    def attempt(task: ResolvedTask, wait: bool) -> bool:
        needed = [failures[t.key] for t in task.needs if t.key in failures]
        if needed:
            failures[task.key] = TaskFailure(task, f"skipped: needs {needed[0].task.method}, "
                                                   f"which failed")
            log.error("task skipped: %s", failures[task.key].line())
            bar.update()
            return True
        with task_lock(store.lock_path(profile.run.dataset, task.method, task.fold,
                                       task.identity), wait) as held:
            if not held:
                return False
            try:
                records[task.key] = run_task(plan, task, paths, quiet=quiet, opened=opened,
                                             force=force, recomputed=recomputed)
            except Exception as error:  # one method's bug must not stop the others
                failures[task.key] = TaskFailure(task, failure_reason(
                    error, paths, opened[0], profile, task))
                log.error("task failed: %s", failures[task.key].line(),
                          exc_info=debug_enabled())
        bar.update()
        return True

    deferred: list[ResolvedTask] = []
    try:
        for task in tasks:
            waits_for = {t.method for t in deferred} & {t.method for t in task.needs}
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
    done = [records[t.key] for t in tasks if t.key in records]
    if failures:
        raise TasksFailed([failures[t.key] for t in tasks if t.key in failures], done)
    return done

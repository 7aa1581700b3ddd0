"""What a matcher knows about the task it runs in: seed, device and its artifact store."""

from __future__ import annotations

import contextlib
import hashlib
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from methods.core.frames import PairedFrames
    from methods.core.stored_crops import StoredCrops


def config_hash(config: Any) -> str:
    """A short, stable hash of a JSON-serialisable configuration (keys sorted)."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stored_files(folder: Path) -> dict[str, tuple[int, int]]:
    """name -> (size, modification time in ns) of what an artifact folder stores: its
    files, lock files (names starting with a dot) aside."""
    if not folder.is_dir():
        return {}
    found = {}
    for path in folder.rglob("*"):
        if path.name.startswith(".") or not path.is_file():
            continue
        with contextlib.suppress(FileNotFoundError):  # a chunk being replaced
            stat = path.stat()
            found[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


@dataclass(frozen=True)
class ArtifactUse:
    """What a task did with one artifact folder: ``state`` is ``"trained"`` (a network
    made by the task: nothing of it was stored before), ``"computed"`` (the same for
    features), ``"extended"`` (some of it was stored, the task added the rest: a feature
    store) or ``"loaded"`` (read as stored; nothing written). Files written while the
    task ran count as the task's, even where another process sharing the store wrote
    them."""

    artifact: str
    state: str

    def to_dict(self) -> dict[str, str]:
        return {"artifact": self.artifact, "state": self.state}


def artifact_state(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]
                   ) -> str:
    """The :attr:`ArtifactUse.state` of a folder that held ``before`` when the task first
    asked for it and ``after`` at its end (see :func:`stored_files`); a network is a
    folder with a ``.pt`` checkpoint."""
    written = {name for name, stamp in after.items() if before.get(name) != stamp}
    kept = {name for name, stamp in after.items() if before.get(name) == stamp}
    if not written:
        return "loaded"
    if kept:
        return "extended"
    return "trained" if any(name.endswith(".pt") for name in after) else "computed"


def derive_seed(seed: int, *parts: str | int) -> int:
    """A 32-bit seed derived from a run seed and names (stable across processes)."""
    words = [seed] + [zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


@dataclass(frozen=True)
class TaskInput:
    """A task another task needs (its :attr:`~methods.core.matcher.Matcher.requires`), as the
    run's plan resolved it: the options and seed that keyed its artifacts."""

    method: str
    fold: int
    options: dict[str, Any]
    seed: int
    training_key: str | None = None
    static_key: str | None = None


@dataclass
class TaskContext:
    """The environment of one (data set, method, fold) task.

    Attributes:
        artifact_root: the artifact store shared by all tasks of all runs. A matcher keeps
            trained networks and computed features there, keyed by :meth:`artifact_dir`,
            so nothing is computed twice and other tasks (e.g. distillation reusing a
            step-I network) can find them.
        dataset_key: the data set's cache key (name, crop size, preprocessing version).
        fold: index of the fold being run.
        seed: the task's seed; derive every random generator from it.
        device: ``"cpu"`` or ``"cuda"`` (``"auto"`` is resolved before the task starts).
        quiet: silence progress bars.
        run_seed: the profile's seed, from which every task's ``seed`` is derived.
        first_fold_train: the training frames of split 0 (the published split 0 on real
            data, whichever splits the folds are; fold 0 elsewhere), for settings that
            reproduce the authors' use of split 0 on every fold (``None`` outside a run).
        stored_crops: the data set's crops in their stored sizes, for training crops cut
            from them (``crop_from = "stored"``; ``None`` outside a run).
        inputs: the tasks this one needs, by method name (see :meth:`input`).
        task_key: the training key the run's plan computed for this task
            (:class:`methods.core.identity.TaskProvenance`); every artifact it trains is stored
            under it. ``None`` outside a run: a method then computes it from its class,
            options, seed and the frames it is fitted on.
        force: recompute what this task trains or extracts, even if it is stored.
        recomputed: the artifact folders forced tasks of this run have recomputed.
        used: the artifact folders the task used, filled by :meth:`artifact_dir` (a
            record lists them, so ``rgbd-bench cache`` can tell which records use what).
        found: what each used folder stored when the task first asked for it
            (:func:`stored_files`), so that :meth:`artifact_uses` can tell what the task
            trained and what it loaded.
    """

    artifact_root: Path
    dataset_key: str = "unknown"
    fold: int = 0
    seed: int = 0
    device: str = "cpu"
    quiet: bool = False
    run_seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    first_fold_train: Callable[[], PairedFrames] | None = None
    stored_crops: Callable[[], StoredCrops] | None = None
    inputs: dict[str, TaskInput] = field(default_factory=dict)
    task_key: str | None = None
    force: bool = False
    recomputed: set[Path] = field(default_factory=set)
    used: list[Path] = field(default_factory=list)
    found: dict[Path, dict[str, tuple[int, int]]] = field(default_factory=dict)

    def input(self, method: str) -> TaskInput:
        """The resolved task of ``method`` on this fold, which this task declared it needs."""
        if method not in self.inputs:
            raise LookupError(f"task needs {method!r}, but its context has no such input "
                           f"(declared inputs: {sorted(self.inputs) or 'none'}); a method "
                           f"lists the methods it needs in its requires")
        return self.inputs[method]

    def seed_of(self, method: str) -> int:
        """The seed that the task of ``method`` on this fold gets (``seed`` for this task).

        A method that reuses another's artifacts (distillation reusing a step-I network)
        needs the seed that keyed them.
        """
        return derive_seed(self.run_seed, method, self.fold)

    def artifact_dir(self, kind: str, config: Any, per_fold: bool = True) -> Path:
        """The folder for artifacts of ``kind`` made from exactly ``config``.

        The folder name carries a hash of ``config``: the key, not a file's age, decides
        reuse. ``per_fold=False`` shares the artifact across folds (e.g. handcrafted
        features, which depend on the images only).
        """
        parts = [self.dataset_key]
        if per_fold:
            parts.append(f"fold{self.fold}")
        path = Path(self.artifact_root).joinpath(*parts, kind, config_hash(config))
        if path not in self.used:
            self.found[path] = stored_files(path)
            self.used.append(path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def artifact_uses(self) -> list[ArtifactUse]:
        """What the task did with each artifact folder it used, in the order it first
        asked for them; folders relative to :attr:`artifact_root`."""
        return [ArtifactUse(str(path.relative_to(self.artifact_root)),
                            artifact_state(self.found.get(path, {}), stored_files(path)))
                for path in self.used]

    def forced_once(self, folder: Path) -> bool:
        """Whether ``folder``'s artifact must be recomputed now: with :attr:`force`, the
        first time a task of this run asks (tasks of one run share :attr:`recomputed`,
        so an artifact several forced tasks use is recomputed once)."""
        if not self.force or folder in self.recomputed:
            return False
        self.recomputed.add(folder)
        return True

"""The data set interface, the registry of data sets, and the on-disk crop cache.

Data sets are registered by name (:data:`DATASETS`): the built-in ones are listed below by
where their class lives and imported on the first lookup, so no data set module imports
this registry; a plugin registers one with ``@register_dataset("name")`` or an entry point
of the group ``rgbd_bench.datasets`` (see :class:`methods.core.named_registry.Registry`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmark.evaluation.splits import Fold, proportional_sizes, random_folds
from methods.core.array_folder import folder_digest, load_arrays, save_arrays
from methods.core.errors import ConfigError, DatasetError
from methods.core.frames import GEOMETRY, PairedFrames
from methods.core.named_registry import Registry
from methods.core.options import NoOptions, build_options
from methods.core.stored_crops import FIELDS, StoredCrops

BUILTIN_DATASETS = {
    "biwi": "benchmark.datasets.biwi:BiwiDataset",
    "manifest": "benchmark.datasets.manifest:ManifestDataset",
    "robotpku": "benchmark.datasets.robotpku:RobotPkuDataset",
    "synthetic": "benchmark.datasets.synthetic:SyntheticDataset",
    "tvrid": "benchmark.datasets.tvrid:TvridDataset",
}


def _name_dataset(name: str, item: object) -> None:
    """Check that ``item`` is a :class:`Dataset` subclass and give it its registered name
    (a built-in class names itself; the two must agree)."""
    if not (isinstance(item, type) and issubclass(item, Dataset)):
        raise TypeError(f"data set {name!r} must be a Dataset subclass, got {item!r}")
    if item.__dict__.get("name", "") not in ("", name):
        raise ConfigError(f"data set class {item.__qualname__} is named {item.name!r}, "
                          f"registered as {name!r}")
    item.name = name


DATASETS: Registry[type[Dataset]] = Registry("data set", "rgbd_bench.datasets",
                                             BUILTIN_DATASETS, accept=_name_dataset)


def register_dataset(name: str) -> Callable[[type[Dataset]], type[Dataset]]:
    """Class decorator: make a :class:`Dataset` subclass available under ``name``
    (``[run] dataset``)."""
    return DATASETS.register(name)


def available_datasets() -> dict[str, type[Dataset]]:
    """All registered data sets by name: built-in, registered and installed plugins'."""
    return dict(sorted(DATASETS.items().items()))


def get_dataset(name: str, **options: Any) -> Dataset:
    """Instantiate the data set ``name`` with validated ``options``."""
    return DATASETS.get(name)(**options)


class Dataset(ABC):
    """A source of paired RGB/depth person crops.

    Subclasses set ``Options`` (a dataclass; unknown keys are errors), ``split_sizes``
    (train/val/test identity counts, ``None`` = proportional to BIWI's 32/8/38),
    ``max_folds`` (how many folds exist, ``None`` = any number) and implement
    :meth:`build`. ``preprocess_version`` is part of the cache key: bump it
    whenever :meth:`build` would produce different pixels.
    """

    name: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    split_sizes: ClassVar[tuple[int, int, int] | None] = None
    max_folds: ClassVar[int | None] = None
    preprocess_version: ClassVar[int] = 1

    def __init__(self, **options: Any) -> None:
        self.options = build_options(self.Options, options, f"data set {self.name!r}")

    @abstractmethod
    def build(self, size: tuple[int, int]) -> PairedFrames:
        """Decode (or generate) every paired frame, cropped and resized to ``size`` (h, w)."""

    def folds(self, frames: PairedFrames, n_folds: int, seed: int) -> list[Fold]:
        """The identity folds of this data set (default: seeded random partitions)."""
        sizes = self.split_sizes or proportional_sizes(len(np.unique(frames.pids)))
        return random_folds(frames.pids, sizes, n_folds, seed)

    def preflight(self) -> None:
        """Check what can be checked before any task runs (files, rows); nothing by default."""
        return None

    def fold_limit(self) -> int | None:
        """How many folds exist (``None`` = any number)."""
        return self.max_folds

    def split_zero_train(self, frames: PairedFrames, folds: list[Fold]) -> np.ndarray:
        """The training identities of "split 0", which the authors' step II always learns
        on (``distill_train_split = "split-0"``): here fold 0's."""
        return folds[0].train

    def cache_key(self, size: tuple[int, int]) -> str:
        """A key naming exactly the crops :meth:`build` produces for ``size``."""
        options = json.dumps(dataclasses.asdict(self.options), sort_keys=True, default=str)
        digest = hashlib.sha256(f"{options}|{size}|{self.preprocess_version}".encode())
        return f"{self.name}-{size[0]}x{size[1]}-v{self.preprocess_version}-" \
               f"{digest.hexdigest()[:12]}"

    def describe(self) -> dict[str, Any]:
        """What ``rgbd-bench datasets`` prints about this data set."""
        return {"name": self.name, "options": dataclasses.asdict(self.options)}

    def stored_images(self) -> tuple[str, Callable[[], StoredCrops]] | None:
        """(cache key, builder) of the crops in their stored sizes, or ``None`` when the
        data set makes its crops at the requested size (see :mod:`methods.core.stored_crops`)."""
        return None


_CACHE_FIELDS = ("pids", "sequences", "frames", "rgb", "depth")


def load_frames(dataset: Dataset, size: tuple[int, int], cache_dir: Path) -> PairedFrames:
    """The data set's crops at ``size``, built once and then memory-mapped from the cache.

    The cache folder is written under a temporary name and renamed into place, so an
    interrupted build never leaves a half-written cache behind. The free space is checked
    against the crops' exact size once they are built, before anything is written.
    """
    folder = Path(cache_dir) / "frames" / dataset.cache_key(size)
    if not folder.is_dir():
        frames = dataset.build(size)
        if len(frames) == 0:
            raise DatasetError(f"data set {dataset.name!r} produced no frames")
        save_arrays(folder, {field: getattr(frames, field) for field in (*_CACHE_FIELDS, *GEOMETRY)
                             if getattr(frames, field) is not None})
    return cached_frames(dataset, size, cache_dir)


def crops_digest(dataset: Dataset, size: tuple[int, int], cache_dir: Path) -> str | None:
    """The fingerprint of the data set's cached crops at ``size`` (see
    :func:`~methods.core.array_folder.folder_digest`); ``None`` when none were built."""
    folder = Path(cache_dir) / "frames" / dataset.cache_key(size)
    return folder_digest(folder) if folder.is_dir() else None


def cached_frames(dataset: Dataset, size: tuple[int, int], cache_dir: Path
                  ) -> PairedFrames | None:
    """The data set's cached crops at ``size``, or ``None`` when none were built yet:
    for readers (figures) that must never start a build."""
    folder = Path(cache_dir) / "frames" / dataset.cache_key(size)
    if not folder.is_dir():
        return None
    return PairedFrames(**load_arrays(folder, _CACHE_FIELDS, "crop cache", optional=GEOMETRY))


def stored_crops(dataset: Dataset, frames: PairedFrames, cache_dir: Path) -> StoredCrops:
    """The data set's crops in their stored size: built once into the cache and then
    memory-mapped, or ``frames`` themselves when the data set stores no other size."""
    source = dataset.stored_images()
    if source is None:
        return StoredCrops.of_frames(frames)
    key, build = source
    folder = Path(cache_dir) / "stored" / key
    if not folder.is_dir():
        crops = build()
        save_arrays(folder, {field: getattr(crops, field) for field in FIELDS})
    return StoredCrops(**load_arrays(folder, FIELDS, "stored-crop cache"))

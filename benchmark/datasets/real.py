"""What the real data sets share: root checks, the authors' folds, parallel decoding, reports."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import cv2
import numpy as np
from tqdm import tqdm

from benchmark.datasets.authors_splits import N_SPLITS, authors_folds, shipped_images
from benchmark.datasets.base import Dataset
from benchmark.datasets.prepared import (
    PreparedScan,
    decode_prepared_pair,
    is_prepared,
    read_prepared_pair,
    scan_prepared,
)
from benchmark.evaluation.splits import Fold
from methods.core.errors import ConfigError, DatasetError
from methods.core.frames import PairedFrames
from methods.core.resize import RESIZES
from methods.core.stored_crops import StoredCrops

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
CHUNK = 16
# options that change how or which, not what, build() produces
RUNTIME_OPTIONS = ("strict", "workers", "splits", "split_source")
README_HINT = "see the README section 'Real data'"


def check_choice(name: str, value: str, choices: tuple[str, ...], why: str = "") -> None:
    """ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"option {name}={value!r} is not one of {choices}{why}")


def check_splits(splits: tuple[int, ...]) -> None:
    """ConfigError unless ``splits`` names distinct published splits, 0..N_SPLITS-1."""
    if not splits or len(set(splits)) < len(splits) or \
            not all(0 <= s < N_SPLITS for s in splits):
        raise ConfigError(f"option splits={list(splits)} must list distinct split numbers "
                          f"0..{N_SPLITS - 1} (the authors published {N_SPLITS})")


@dataclass(frozen=True)
class RealOptions:
    """The options every real data set has (each data set adds its own).

    root: the data set's folder (its layouts: the data set's docstring and README).
    layout: ``auto`` (detect) or one of the data set's layouts.
    strict: raise instead of skipping frames that cannot be paired or hold no person.
    workers: decoding processes (0 = all cores); does not change the crops.
    resize: prepared layout: how the stored crops are decoded and resized to the run's
        image size, ``"opencv"`` or ``"pil-bilinear"`` (the authors' PIL;
        :mod:`methods.core.resize`).
    splits: which of the authors' 5 published splits are the folds, in fold order
        (fold k = ``splits[k]``; ``[run] folds = N`` runs the first N). Nothing in the
        authors' code says which three the paper ran; the first three is an assumption.
    """

    root: str = ""
    layout: str = "auto"
    strict: bool = False
    workers: int = 0
    resize: str = "opencv"
    splits: tuple[int, ...] = (0, 1, 2, 3, 4)

    def __post_init__(self) -> None:
        check_choice("resize", self.resize, RESIZES)
        check_splits(self.splits)
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")


def _single_threaded() -> None:
    cv2.setNumThreads(1)


def parallel_map(fn: Callable[[T], R], items: list[T], workers: int, desc: str
                 ) -> Iterator[R]:
    """``map(fn, items)`` in order, over ``workers`` processes (0 = all cores), with a bar."""
    workers = workers or os.cpu_count() or 1
    bar = partial(tqdm, total=len(items), desc=desc, unit="frame", disable=None)
    if workers <= 1 or len(items) < 2 * CHUNK:
        yield from bar(map(fn, items))
        return
    # spawn, not fork: a forked child can deadlock on OpenCV's thread pool of the parent
    with ProcessPoolExecutor(min(workers, len(items) // CHUNK),
                             mp_context=multiprocessing.get_context("spawn"),
                             initializer=_single_threaded) as pool:
        yield from bar(pool.map(fn, items, chunksize=CHUNK))


def _read_pair(paths: tuple[str, str], size: tuple[int, int], kernel: str
               ) -> tuple[np.ndarray, np.ndarray]:
    return read_prepared_pair(paths[0], paths[1], size, kernel)


def _decode_pair(paths: tuple[str, str], kernel: str) -> tuple[np.ndarray, np.ndarray]:
    return decode_prepared_pair(paths[0], paths[1], kernel)


def _pairs(scan: PreparedScan) -> list[tuple[str, str]]:
    return [(str(scan.rgb_dir / name), str(scan.depth_dir / name)) for name in scan.names]


class RealDataset(Dataset):
    """A real data set on disk: ``root`` required, the authors' published splits as folds.

    Subclasses set ``authors_name`` (``biwi``/``pku``: the shipped splits and image list)
    and ``folders`` (the prepared layout's RGB and depth folder names).
    """

    authors_name: ClassVar[str] = ""
    folders: ClassVar[tuple[str, str]] = ("", "")
    obtain: ClassVar[str] = ""
    max_folds: ClassVar[int | None] = N_SPLITS

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.report: dict[str, Any] = {}

    # -- where the data is -------------------------------------------------------------
    def root(self) -> Path:
        """The checked root folder; DatasetError says what is wrong and what to do."""
        raw = str(self.options.root).strip()
        if not raw:
            raise DatasetError(f"data set {self.name!r} needs its root folder: pass --root PATH "
                               f"or set root in the profile's [dataset] section. {self.obtain} "
                               f"({README_HINT})")
        root = Path(raw).expanduser()
        if not root.is_dir():
            what = "is a file" if root.exists() else "does not exist"
            raise DatasetError(f"the {self.name} root {root} {what}; point root at the folder "
                               f"that holds {self.expected()} ({README_HINT})")
        return root.resolve()

    def expected(self) -> str:
        """The layouts this data set reads, in words."""
        rgb, depth = self.folders
        return f"{rgb}/images and {depth}/images (prepared layout)"

    def layout(self, root: Path) -> str:
        """``prepared`` or ``raw``: the option, or what ``root`` holds for ``auto``."""
        if self.options.layout != "auto":
            return self.options.layout
        if is_prepared(root, *self.folders):
            return "prepared"
        if self.is_raw(root):
            return "raw"
        found = sorted(os.listdir(root))[:8]
        raise DatasetError(f"{root} holds neither layout of {self.name}: expected "
                           f"{self.expected()}; found {found or 'nothing'} ({README_HINT})")

    def is_raw(self, root: Path) -> bool:
        """Whether ``root`` holds this data set's raw release (none by default)."""
        return False

    # -- folds, cache key, description ---------------------------------------------------
    def folds(self, frames: PairedFrames, n_folds: int, seed: int) -> list[Fold]:
        """The authors' published splits (what they ran): fold k is split ``splits[k]``.

        Train and val are the split's ``train``/``val``; test is its ``query`` (equal to
        ``gallery``). ``seed`` is unused: the folds are fixed.
        """
        if not 1 <= n_folds <= len(self.options.splits):
            raise ConfigError(f"{self.name}: {n_folds} folds asked, but splits = "
                              f"{list(self.options.splits)} names {len(self.options.splits)}")
        return authors_folds(self.authors_name, frames.pids, self.options.splits[:n_folds])

    def fold_limit(self) -> int:
        """As many folds as the ``splits`` option names."""
        return len(self.options.splits)

    def split_zero_train(self, frames: PairedFrames, folds: list[Fold]) -> np.ndarray:
        """Published split 0's training identities, whichever splits are the folds."""
        return authors_folds(self.authors_name, frames.pids, (0,))[0].train

    def cache_key(self, size: tuple[int, int]) -> str:
        """Like the base key, without the options that do not change the pixels."""
        options = {k: v for k, v in dataclasses.asdict(self.options).items()
                   if k not in RUNTIME_OPTIONS}
        options["root"] = str(Path(str(options["root"])).expanduser().resolve())
        text = json.dumps(options, sort_keys=True)
        digest = hashlib.sha256(f"{text}|{size}|{self.preprocess_version}".encode())
        return f"{self.name}-{size[0]}x{size[1]}-v{self.preprocess_version}-" \
               f"{digest.hexdigest()[:12]}"

    def describe(self) -> dict[str, Any]:
        """Identities, frames and skipped frames from a scan of the file tree (no decoding).

        ``frames`` counts the pairable frames the scan finds; frames that only decoding can
        rule out (raw BIWI: no person) are in ``skipped`` once :meth:`build` has run in
        this process (``decoded`` says whether it has).
        """
        root = self.root()
        layout = self.layout(root)
        pids, skipped, extra = self.scan(root, layout)
        skipped = Counter(skipped)
        if self.report:
            skipped.update(self.report["decode_skipped"])
        return {"name": self.name, "options": dataclasses.asdict(self.options),
                "root": str(root), "layout": layout,
                "identities": int(len(np.unique(pids))),
                "frames": int(self.report["kept"]) if self.report else int(len(pids)),
                "skipped": dict(sorted(skipped.items())), "decoded": bool(self.report),
                "folds": f"the authors' published splits ({self.authors_name}/splits.json, "
                         f"5 splits; train/val/test = {self.split_sizes})",
                **extra}

    def scan(self, root: Path, layout: str) -> tuple[np.ndarray, Counter, dict[str, Any]]:
        """(pids of the pairable frames, skipped by reason, extra description fields)."""
        scan = scan_prepared(root, *self.folders, shipped_images(self.authors_name))
        return scan.pids, scan.skipped, {"meta": scan.meta_source,
                                         "depth_unit": "8-bit grey level of the prepared "
                                                       "depth images (not mm)"}

    def file_pairs(self, root: Path, layout: str) -> list[tuple[str, str]]:
        """The (RGB, depth) file paths of every pairable frame, for ``--verify``."""
        return _pairs(scan_prepared(root, *self.folders, shipped_images(self.authors_name)))

    # -- building ----------------------------------------------------------------------
    def build_prepared(self, root: Path, size: tuple[int, int]) -> PairedFrames:
        """Read, pair and resize the prepared layout's images."""
        scan = scan_prepared(root, *self.folders, shipped_images(self.authors_name))
        self.check_unpaired(scan.skipped, scan.examples)
        n, (h, w) = len(scan.names), size
        rgb, depth = np.empty((n, h, w, 3), np.uint8), np.empty((n, h, w), np.uint16)
        pairs = _pairs(scan)
        reader = partial(_read_pair, size=(h, w), kernel=self.options.resize)
        for i, (r, d) in enumerate(parallel_map(reader, pairs, self.options.workers,
                                                f"{self.name} (prepared)")):
            rgb[i], depth[i] = r, d
        self.finish_report(n + sum(scan.skipped.values()), n, scan.skipped, Counter())
        return PairedFrames(scan.pids, scan.cameras, scan.frames, rgb, depth)

    def stored_images(self) -> tuple[str, Callable[[], StoredCrops]] | None:
        """The prepared layout's crops in their own sizes, decoded as ``resize`` decodes."""
        root = self.root()
        if self.layout(root) != "prepared":
            return None

        def build() -> StoredCrops:
            scan = scan_prepared(root, *self.folders, shipped_images(self.authors_name))
            self.check_unpaired(scan.skipped, scan.examples)
            reader = partial(_decode_pair, kernel=self.options.resize)
            return StoredCrops.of_images(scan.frames, parallel_map(
                reader, _pairs(scan), self.options.workers, f"{self.name} (stored size)"))

        return f"{self.cache_key((0, 0))}-stored", build

    def check_unpaired(self, skipped: Counter, examples: list[str]) -> None:
        """With ``strict``, any frame left out while scanning is an error naming a file."""
        if self.options.strict and skipped:
            raise DatasetError(f"{self.name}: {sum(skipped.values())} files cannot be paired "
                               f"({dict(skipped)}), e.g. {examples[0]}; strict=true forbids "
                               f"skipping them")

    def finish_report(self, seen: int, kept: int, scan_skipped: Counter,
                      decode_skipped: Counter) -> None:
        """Remember and log how many frames were kept and why the others were skipped."""
        total = scan_skipped + decode_skipped
        self.report = {"seen": seen, "kept": kept, "scan_skipped": dict(scan_skipped),
                       "decode_skipped": dict(decode_skipped)}
        message = "%s: kept %d of %d frames; skipped %s"
        (log.warning if total else log.info)(message, self.name, kept, seen, dict(total))


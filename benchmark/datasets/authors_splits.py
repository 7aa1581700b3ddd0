"""The identity splits and image lists the paper's authors published, shipped as package data.

Source: the public repository ``frhf/cross-modal-distillation-reidentification``, folder
``datasets/`` (open-reid format). ``splits.json`` is copied unchanged: 5 splits, each with
``trainval``, ``train``, ``val``, ``query`` and ``gallery`` identity lists (``query`` equals
``gallery``; all 5 splits share the test identities). ``meta.json`` is stored compactly:
the authors' list of image names per identity and camera is always the contiguous run
``%08d_%02d_%04d.jpg % (person, camera, i)`` for ``i < count``, so each run is kept as
``[person, camera, count]``. The RGB and depth lists are identical (twins share a name).

BIWI: identity = an *instance*; camera 00 is a subject's Training outfit, cameras 01/02 its
Testing sequences, which form a separate identity. The person field of a BIWI image name
is the BIWI subject number, not the identity index. RobotPKU: identity 89 has no images.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from benchmark.evaluation.splits import Fold
from methods.core.errors import ConfigError, DatasetError

SPLITS_DIR = Path(__file__).resolve().parents[1] / "data" / "splits"
N_SPLITS = 5
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageList:
    """Every image an open-reid ``meta.json`` lists: name, identity, person field, camera."""

    names: np.ndarray
    pids: np.ndarray
    persons: np.ndarray
    cameras: np.ndarray

    def index(self) -> dict[str, int]:
        """File name -> row."""
        return {str(n): i for i, n in enumerate(self.names)}


def image_name(person: int, camera: int, index: int) -> str:
    """The open-reid image name ``%08d_%02d_%04d.jpg``."""
    return f"{person:08d}_{camera:02d}_{index:04d}.jpg"


def parse_image_name(name: str) -> tuple[int, int, int] | None:
    """(person, camera, index) of an open-reid image name, ``None`` if it is not one."""
    stem, dot, ext = name.rpartition(".")
    parts = stem.split("_") if dot else []
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error


@cache
def shipped_splits(dataset: str) -> tuple[dict[str, tuple[int, ...]], ...]:
    """The authors' 5 splits of ``dataset`` (``biwi`` or ``pku``)."""
    splits = _read_json(SPLITS_DIR / dataset / "splits.json")
    return tuple({k: tuple(int(p) for p in v) for k, v in s.items()} for s in splits)


@cache
def shipped_images(dataset: str) -> ImageList:
    """The authors' image list of ``dataset`` (``biwi`` or ``pku``), from the compact meta."""
    meta = _read_json(SPLITS_DIR / dataset / "meta.json")
    rows = [(pid, person, camera, count) for pid, runs in enumerate(meta["identities"])
            for person, camera, count in runs]
    counts = np.array([r[3] for r in rows], dtype=np.int64)
    names = [image_name(person, camera, i) for _, person, camera, count in rows
             for i in range(count)]
    return ImageList(np.array(names), *(np.repeat([r[k] for r in rows], counts).astype(np.int64)
                                        for k in range(3)))


def images_from_meta(path: Path) -> ImageList:
    """The image list of an open-reid ``meta.json`` (``identities[pid][camera]`` = names)."""
    meta = _read_json(path)
    try:
        entries = [(pid, str(n)) for pid, cams in enumerate(meta["identities"])
                   for cam in cams for n in cam]
    except (KeyError, TypeError) as error:
        raise DatasetError(f"{path} is not an open-reid meta.json (no identities[pid][camera] "
                           f"lists of image names): {error!r}") from error
    parsed = [parse_image_name(n) for _, n in entries]
    bad = [n for (_, n), p in zip(entries, parsed, strict=True) if p is None]
    if bad:
        raise DatasetError(f"{path} lists {len(bad)} names that are not %08d_%02d_%04d.jpg, "
                           f"e.g. {bad[0]!r}")
    return ImageList(np.array([n for _, n in entries]),
                     np.array([p for p, _ in entries], dtype=np.int64),
                     np.array([p[0] for p in parsed], dtype=np.int64),
                     np.array([p[1] for p in parsed], dtype=np.int64))


def authors_folds(dataset: str, pids: np.ndarray, splits: Sequence[int]) -> list[Fold]:
    """The authors' splits numbered ``splits``, in that order: train, val and test = query.

    Identities absent from ``pids`` (the frames at hand) are left out with a warning; on
    the full RobotPKU this drops identity 89, which the authors' lists leave empty, so its
    test set has 39 identities with images, as in the authors' own runs.
    """
    if not splits or not all(0 <= s < N_SPLITS for s in splits):
        raise ConfigError(f"the authors published {N_SPLITS} splits of {dataset}, numbered "
                          f"0..{N_SPLITS - 1}; got {list(splits)}")
    return folds_of_splits(dataset, shipped_splits(dataset), pids, splits)


def read_splits(path: Path, identity: Callable[[object], int] = int
                ) -> tuple[dict[str, tuple[int, ...]], ...]:
    """The splits of an open-reid ``splits.json`` (a list of ``train``/``val``/``query``
    identity lists, each identity turned into a code by ``identity``, which raises
    ValueError for an unknown one); DatasetError names the file when it is not one."""
    data = _read_json(path)
    try:
        return tuple({k: tuple(identity(p) for p in s[k]) for k in ("train", "val", "query")}
                     for s in data)
    except (KeyError, TypeError, ValueError) as error:
        raise DatasetError(f"{path} is not an open-reid splits.json (a list of splits with "
                           f"train, val and query identity lists): {error!r}") from error


def folds_of_splits(name: str, splits: Sequence[dict[str, Sequence[int]]], pids: np.ndarray,
                    numbers: Sequence[int]) -> list[Fold]:
    """Fold k = split ``numbers[k]`` of ``splits``: its train, val and query (= test) lists,
    less the identities without frames (a warning names them)."""
    present = np.unique(np.asarray(pids))
    folds = []
    for k, number in enumerate(numbers):
        split = splits[number]
        parts = {}
        for part, key in (("train", "train"), ("val", "val"), ("test", "query")):
            listed = np.unique(np.array(split[key], dtype=np.int64))
            kept = listed[np.isin(listed, present)]
            if len(kept) < len(listed):
                log.warning("%s split %d: %s identities %s have no frames and are left out",
                            name, number, part, listed[~np.isin(listed, present)].tolist())
            if len(kept) == 0:
                raise DatasetError(f"{name} split {number}: none of its {len(listed)} {part} "
                                   f"identities has frames; is the data set complete?")
            parts[part] = kept
        folds.append(Fold(k, parts["train"], parts["val"], parts["test"]))
    return folds

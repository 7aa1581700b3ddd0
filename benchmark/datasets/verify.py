"""``rgbd-bench datasets --verify``: decode every file of a download and name the bad ones.

Scanning names (what ``datasets`` does without ``--verify``) cannot see a truncated or
garbled file; only decoding can. Every RGB/depth pair is decoded in parallel, and each
bad file is reported with its path and one reason: ``truncated`` (the file ends before
its format says it does), ``undecodable`` (no decoder reads it), ``unreadable`` (the OS
refuses it) or ``size mismatch`` (RGB and depth of one frame disagree in size).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmark.datasets.base import Dataset
from benchmark.datasets.biwi_raw import RGB_PER_DEPTH, read_pgm
from benchmark.datasets.real import RealDataset, parallel_map
from methods.core.errors import ConfigError, DatasetError

_ENDINGS = {".jpg": b"\xff\xd9", ".jpeg": b"\xff\xd9", ".png": b"IEND\xaeB`\x82"}


@dataclass(frozen=True)
class BadFile:
    """A file of a download that cannot be used, and why."""

    path: str
    reason: str


def decode(path: str) -> tuple[tuple[int, int] | None, str | None]:
    """(height, width) of the decoded image, or (None, reason)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None, "unreadable"
    suffix = Path(path).suffix.lower()
    if suffix == ".pgm":
        try:
            return read_pgm(path).shape[:2], None
        except DatasetError as error:
            return None, "truncated" if "the file has" in str(error) else "undecodable"
    ending = _ENDINGS.get(suffix)
    if ending is not None and not data.rstrip(b"\x00\r\n ").endswith(ending):
        return None, "truncated"
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return (None, "undecodable") if image is None else (image.shape[:2], None)


def check_pair(pair: tuple[str, str]) -> list[BadFile]:
    """The bad files of one (RGB, depth) pair; a size mismatch names the depth file."""
    rgb, depth = pair
    (rgb_shape, rgb_bad), (depth_shape, depth_bad) = decode(rgb), decode(depth)
    bad = [BadFile(p, r) for p, r in ((rgb, rgb_bad), (depth, depth_bad)) if r]
    if not bad:
        scale = RGB_PER_DEPTH if depth.lower().endswith(".pgm") else 1
        if tuple(scale * s for s in depth_shape) != tuple(rgb_shape):
            bad.append(BadFile(depth, "size mismatch"))
    return bad


def verify(dataset: Dataset) -> dict[str, Any]:
    """Decode every file of ``dataset``'s download; ``{"verified_files", "bad_files"}``."""
    if not isinstance(dataset, RealDataset):
        raise ConfigError(f"--verify checks a download on disk; data set {dataset.name!r} "
                          f"has no files to check")
    root = dataset.root()
    pairs = dataset.file_pairs(root, dataset.layout(root))
    bad: list[BadFile] = []
    for found in parallel_map(check_pair, pairs, dataset.options.workers,
                              f"{dataset.name} (verify)"):
        bad += found
    return {"verified_files": 2 * len(pairs), "bad_files": [asdict(b) for b in bad]}

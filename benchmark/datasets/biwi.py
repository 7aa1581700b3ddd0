"""BIWI RGBD-ID (Munaro et al. 2014): raw archives or the authors' prepared layout.

Identities are *instances*, numbered as in the authors' ``meta.json`` (78): each subject's
Training sequence is one identity, and a subject who also appears in Testing gets a second
identity for both Testing sequences (Still and Walking: the authors' cameras 01 and 02,
taken here as 01 = Still, 02 = Walking; ``sequences`` is 0 Training, 1 Still, 2 Walking).
The default folds are the authors' published splits: 32 train, 8 val, 38 test identities.

Frames kept from the raw archives: those with both an RGB image and a depth map, and a
person of at least ``min_person_pixels`` depth pixels in the user map (largest player,
depth 0 ignored) or, with an empty user map, near the tracked skeleton. The authors kept
22,038 of the 39,281 raw frames with an unpublished filter; this one is documented
instead, and ``describe()`` reports its counts.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.datasets.authors_splits import shipped_images
from benchmark.datasets.biwi_raw import (
    SEQUENCE_NAMES,
    CropSettings,
    RawFrame,
    crop_frame,
    is_raw_biwi,
    scan_raw,
)
from benchmark.datasets.real import (
    README_HINT,
    RealDataset,
    RealOptions,
    check_choice,
    parallel_map,
)
from methods.core.errors import ConfigError, DatasetError
from methods.core.frames import PairedFrames

log = logging.getLogger(__name__)
SKIP_REASONS = {"no_person": "an empty user map and no tracked skeleton",
                "small_person": "fewer person pixels than min_person_pixels"}


@dataclass(frozen=True)
class BiwiOptions(RealOptions):
    """Options of the ``biwi`` data set (and those of :class:`RealOptions`).

    root: the folder with ``Training/`` and ``Testing/`` (raw archives) or with
        ``biwi/images`` and ``biwi_depth/images`` (prepared layout).
    layout: ``auto`` (detect), ``raw`` or ``prepared``.
    min_person_pixels: raw only: fewer person depth pixels and the frame is skipped.
    margin: raw only: box growth on every side, as a fraction of the person's height.
    mask_depth: raw only: zero the depth crop outside the person mask.
    """

    min_person_pixels: int = 2000
    margin: float = 0.05
    mask_depth: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("layout", self.layout, ("auto", "raw", "prepared"))
        if self.min_person_pixels < 1:
            raise ConfigError(f"min_person_pixels must be >= 1, got {self.min_person_pixels}")
        if not 0 <= self.margin < 1:
            raise ConfigError(f"margin must be in [0, 1), got {self.margin}")


def instance_pids(frames: list[RawFrame]) -> np.ndarray:
    """The authors' identity of each raw frame: (subject, Training or Testing) -> pid.

    A (subject, Training/Testing) pair the authors' list lacks gets a new identity after
    theirs (logged), so no frame is dropped or merged silently.
    """
    images = shipped_images("biwi")
    table = {(int(s), int(c > 0)): int(p)
             for s, c, p in zip(images.persons, images.cameras, images.pids, strict=True)}
    keys = [(f.subject, int(f.sequence > 0)) for f in frames]
    unknown = sorted(set(keys) - set(table))
    if unknown:
        log.warning("biwi: %d (subject, Testing?) pairs are not in the authors' list and get "
                    "new identities: %s", len(unknown), unknown[:10])
        table.update({key: len(set(table.values())) + i for i, key in enumerate(unknown)})
    return np.array([table[k] for k in keys], dtype=np.int64)


class BiwiDataset(RealDataset):
    """BIWI RGBD-ID, 78 instances; folds: the authors' published splits (what they ran)."""

    name = "biwi"
    Options = BiwiOptions
    split_sizes = (32, 8, 38)
    preprocess_version = 2  # 2: raw frames carry person masks, skeletons and intrinsics
    authors_name = "biwi"
    folders = ("biwi", "biwi_depth")
    obtain = ("BIWI RGBD-ID (CC BY-NC-SA 3.0) is downloaded by hand from its authors' page "
              "(Munaro et al. 2014); extract Training/ and Testing/ under one folder.")

    def expected(self) -> str:
        return "Training/ and Testing/ (raw archives) or biwi/images and biwi_depth/images " \
               "(prepared layout)"

    def is_raw(self, root: Path) -> bool:
        return is_raw_biwi(root)

    def scan(self, root: Path, layout: str) -> tuple[np.ndarray, Counter, dict[str, Any]]:
        if layout == "prepared":
            return super().scan(root, layout)
        scan = self.scan_raw(root)
        return instance_pids(scan.frames), scan.skipped, {
            "depth_unit": "mm", "sequences": {str(i): n for i, n in enumerate(SEQUENCE_NAMES)},
            "frame_filter": f"person >= {self.options.min_person_pixels} depth pixels"}

    def file_pairs(self, root: Path, layout: str) -> list[tuple[str, str]]:
        if layout == "prepared":
            return super().file_pairs(root, layout)
        return [(f.rgb, f.depth) for f in self.scan_raw(root).frames]

    def scan_raw(self, root: Path):
        scan = scan_raw(root)
        if not scan.frames:
            raise DatasetError(f"{root} holds no BIWI frame (<subject>_<frame>-*_rgb.jpg with "
                               f"its _depth.pgm) under Training/<subject>/ or "
                               f"Testing/{{Still,Walking}}/<subject>/ ({README_HINT})")
        return scan

    def build(self, size: tuple[int, int]) -> PairedFrames:
        """Crops of every kept frame at ``size`` (h, w); see the module docstring."""
        root = self.root()
        if self.layout(root) == "prepared":
            return self.build_prepared(root, size)
        if self.options.resize != "opencv":
            raise ConfigError(f"biwi option resize={self.options.resize!r} applies to the "
                              f"prepared layout; {root} holds the raw archives")
        if not is_raw_biwi(root):
            raise DatasetError(f"{root} has no Training/ or Testing/ folder; layout=raw needs "
                               f"the extracted BIWI RGBD-ID archives ({README_HINT})")
        return self.build_raw(root, tuple(size))

    def build_raw(self, root: Path, size: tuple[int, int]) -> PairedFrames:
        """Decode and crop the raw frames (in parallel); skip those without a person."""
        scan = self.scan_raw(root)
        self.check_unpaired(scan.skipped, scan.unpaired_examples)
        o = self.options
        settings = CropSettings(size, o.min_person_pixels, o.margin, o.mask_depth)
        n, (h, w) = len(scan.frames), size
        rgb, depth = np.empty((n, h, w, 3), np.uint8), np.empty((n, h, w), np.uint16)
        masks = np.zeros((n, h, w), np.uint8)
        joints, intrinsics = np.full((n, 20, 3), np.nan), np.zeros((n, 4))
        keep = np.zeros(n, dtype=bool)
        skipped: Counter = Counter()
        crops = parallel_map(partial(crop_frame, settings=settings), scan.frames, o.workers,
                             "biwi (raw)")
        for i, (frame, result) in enumerate(zip(scan.frames, crops, strict=True)):
            if result.reason is not None:
                if o.strict:
                    raise DatasetError(f"{frame.depth}: {SKIP_REASONS[result.reason]} "
                                       f"({result.person_pixels} person pixels); strict=true "
                                       f"forbids skipping the frame")
                skipped[result.reason] += 1
                continue
            keep[i] = True
            rgb[i], depth[i] = result.rgb, result.depth
            masks[i], intrinsics[i] = result.mask, result.intrinsics
            if result.joints is not None:
                joints[i] = result.joints
        self.finish_report(n + sum(scan.skipped.values()), int(keep.sum()), scan.skipped,
                           skipped)
        frames = np.array([f.key for f in scan.frames], dtype=np.int64)
        sequences = np.array([f.sequence for f in scan.frames], dtype=np.int64)
        return PairedFrames(instance_pids(scan.frames)[keep], sequences[keep], frames[keep],
                            rgb[keep], depth[keep], masks=masks[keep], skeletons=joints[keep],
                            intrinsics=intrinsics[keep])

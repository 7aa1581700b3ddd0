"""Crops written into the file layouts that data sets read (a manifest and a fake TVRID),
and the smoke profile's synthetic set to export."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from benchmark.datasets.base import Dataset, get_dataset
from benchmark.runs.config import load_profile
from methods.core.frames import PairedFrames

# Fewer people than smoke's: an export's fidelity does not depend on how many there are.
SMALL_SMOKE = ("dataset.identities=12", "dataset.frames_per_identity=8")
SMALL_SMOKE_ARGS = [arg for setting in SMALL_SMOKE for arg in ("--set", setting)]


def small_smoke_synthetic() -> tuple[Dataset, tuple[int, int]]:
    """The synthetic set and crop size that ``--profile smoke`` with ``SMALL_SMOKE_ARGS``
    reads (the profile's other data set options included)."""
    profile = load_profile("smoke", list(SMALL_SMOKE))
    height, width = profile.run.image_size
    return get_dataset(profile.run.dataset, **profile.dataset), (height, width)


def write_pair(folder: Path, stem: str, frames: PairedFrames, i: int, rgb_suffix: str,
               depth_suffix: str) -> tuple[Path, Path]:
    """Row ``i``'s crops as a PNG pair (RGB, 16-bit depth) ``<stem><suffix>`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb, depth = folder / f"{stem}{rgb_suffix}", folder / f"{stem}{depth_suffix}"
    cv2.imwrite(str(rgb), cv2.cvtColor(np.asarray(frames.rgb[i]), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(depth), np.asarray(frames.depth[i]))
    return rgb, depth


def write_manifest(frames: PairedFrames, root: Path, **columns: list) -> Path:
    """Every frame as ``images/<i>_rgb.png`` + ``_depth.png`` and a ``manifest.csv`` with one
    row per image (camera = sequence, frame = row); ``columns`` adds per-frame columns."""
    rows = []
    for i in range(len(frames)):
        paths = write_pair(root / "images", f"{i:05d}", frames, i, "_rgb.png", "_depth.png")
        for modality, path in zip(("rgb", "depth"), paths, strict=True):
            rows.append({"person_id": int(frames.pids[i]), "modality": modality,
                         "path": str(path.relative_to(root)),
                         "camera": int(frames.sequences[i]), "frame": i,
                         **{k: v[i] for k, v in columns.items()}})
    pd.DataFrame(rows).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


CAMERAS = ("flat", "upward", "downward", "roof")


def write_tvrid(frames: PairedFrames, root: Path, test_pids: np.ndarray) -> Path:
    """A fake TVRID extraction: one passage folder per frame (``<stem>_RGB.png`` and
    ``<stem>_depth.png``), ``train_labels.csv`` and ``public_test_labels.csv``."""
    for name, subdir, chosen in (("train_labels.csv", "train", False),
                                 ("public_test_labels.csv", "test_public", True)):
        rows = []
        for i in np.flatnonzero(np.isin(frames.pids, test_pids) == chosen):
            cam = int(frames.sequences[i])
            passage = f"P{i:05d}/cam{cam}"
            write_pair(root / subdir / passage, "000000", frames, i, "_RGB.png", "_depth.png")
            rows.append({"gallery_id": f"g{i:05d}", "person_id": int(frames.pids[i]),
                         "cam_name": CAMERAS[cam % 4], "cam_id": cam,
                         "passage_name": "IN" if i % 2 else "OUT", "passage_id": i,
                         "path": passage})
        pd.DataFrame(rows).to_csv(root / name, index=False)
    return root

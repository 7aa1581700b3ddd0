"""The data model every data set produces: a table of paired RGB/depth frames."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields

import numpy as np

MODALITIES = ("rgb", "depth")
GEOMETRY = ("masks", "skeletons", "intrinsics")
"""The optional per-frame fields that depth-geometry descriptors (Eigen-depth) need."""


@dataclass(frozen=True)
class PairedFrames:
    """Paired RGB and depth person crops, one row per time step.

    Attributes:
        pids: (n,) int64 identity (an *instance*: the same person in other clothes is
            another instance, as in BIWI).
        sequences: (n,) int64 camera / sequence index of the frame.
        frames: (n,) int64 time-step key, unique within the data set. The RGB image and
            the depth image of row i are twins (taken at the same time step), so a
            query and a gallery image with equal ``frames`` are the same moment.
        rgb: (n, h, w, 3) uint8 RGB crops.
        depth: (n, h, w) uint16 depth crops in millimetres, 0 = no reading.
        masks: optional (n, h, w) uint8 person mask of each depth crop, non-zero = person.
        skeletons: optional (n, 20, 3) float64 Kinect v1 joints (rows in Kinect's joint
            order) X, Y, Z in metres in the depth camera's frame, Y pointing up, as BIWI's
            ``*_skel.txt`` columns 2-4; NaN where a joint is unknown.
        intrinsics: optional (n, 4) float64 (fx, fy, cx, cy) of each depth crop's pixel
            grid: a crop pixel (u, v) at depth z lies at x = (u - cx) z / fx,
            y = (v - cy) z / fy in the skeleton's frame (y pointing down).
    """

    pids: np.ndarray
    sequences: np.ndarray
    frames: np.ndarray
    rgb: np.ndarray
    depth: np.ndarray
    masks: np.ndarray | None = None
    skeletons: np.ndarray | None = None
    intrinsics: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.pids)
        for name in ("sequences", "frames", "rgb", "depth", *GEOMETRY):
            if getattr(self, name) is not None and len(getattr(self, name)) != n:
                raise ValueError(
                    f"PairedFrames: {name} has {len(getattr(self, name))} rows, pids has {n}"
                )
        if self.rgb.ndim != 4 or self.rgb.shape[-1] != 3 or self.rgb.dtype != np.uint8:
            raise ValueError(f"PairedFrames: rgb must be (n, h, w, 3) uint8, got "
                             f"{self.rgb.shape} {self.rgb.dtype}")
        if self.depth.ndim != 3 or self.depth.dtype != np.uint16:
            raise ValueError(f"PairedFrames: depth must be (n, h, w) uint16, got "
                             f"{self.depth.shape} {self.depth.dtype}")
        if self.rgb.shape[1:3] != self.depth.shape[1:3]:
            raise ValueError(f"PairedFrames: rgb size {self.rgb.shape[1:3]} differs from "
                             f"depth size {self.depth.shape[1:3]}")

    def __len__(self) -> int:
        return len(self.pids)

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the crops."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[2])

    def images(self, modality: str) -> np.ndarray:
        """The crops of one modality: ``rgb`` (n, h, w, 3) uint8 or ``depth`` (n, h, w) uint16."""
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
        return self.rgb if modality == "rgb" else self.depth

    def select(self, index: np.ndarray) -> PairedFrames:
        """Rows by boolean mask or integer index (a copy for fancy indexing)."""
        return PairedFrames(**{f.name: None if getattr(self, f.name) is None
                               else getattr(self, f.name)[index] for f in fields(self)})

    def of_identities(self, pids: np.ndarray) -> PairedFrames:
        """The rows whose identity is in ``pids``."""
        return self.select(np.isin(self.pids, np.asarray(pids)))


def frames_fingerprint(frames: PairedFrames) -> str:
    """A short hash of which frames (identity, sequence, time step) a set holds."""
    digest = hashlib.sha256()
    for array in (frames.pids, frames.sequences, frames.frames):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def toy_frames(identities: int, per_identity: int, first: int = 0, seed: int = 0,
               size: tuple[int, int] = (32, 16)) -> PairedFrames:
    """Tiny random paired frames for a method's own tests: each identity has one mean
    colour and one depth level (``2000 + 100 * (pid % 5)`` mm), plus pixel noise, so a
    method that learns anything separates them. Identities are ``first, first + 1, ...``."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(first, first + identities), per_identity)
    n = len(pids)
    rgb = np.clip(rng.integers(0, 256, (identities, 3))[pids - first][:, None, None]
                  + rng.normal(0, 20, (n, *size, 3)), 0, 255).astype(np.uint8)
    depth = (2000 + 100 * (pids % 5)[:, None, None]
             + rng.normal(0, 30, (n, *size))).astype(np.uint16)
    return PairedFrames(pids, np.zeros(n, np.int64), np.arange(n, dtype=np.int64), rgb, depth)

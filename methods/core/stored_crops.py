"""Person crops in their stored size, for training crops cut in the stored image's pixels.

The crop cache (:func:`benchmark.datasets.base.load_frames`) holds every crop resized to
the run's ``image_size``. The authors cut each random training crop from the stored image
and resized the crop (``open-reid/reid/utils/data/transforms.py:28-44``); a crop cut from
the resized image is the same only when the stored crop has the input's shape. A data set
whose files are crops of their own sizes (the prepared layout) keeps them here, once,
next to the crop cache: ``<cache>/stored/<data set key>/`` holds the pixels of all crops
back to back (``rgb.npy`` (total, 3) uint8, ``depth.npy`` (total,) uint16), each crop's
``shapes`` and ``offsets`` and its time-step key, memory-mapped after the first build.
It takes 5 bytes a pixel, as the crop cache: its size is the cache's times the stored
crops' mean pixel count over the run's image size (not measured on BIWI here).
A data set that makes its crops at the requested size (synthetic, raw BIWI) has no other
stored image: its cached crops are the stored ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from methods.core.errors import DatasetError
from methods.core.frames import PairedFrames

FIELDS = ("frames", "shapes", "offsets", "rgb", "depth")


@dataclass(frozen=True)
class StoredCrops:
    """Crops of many sizes, looked up by time-step key.

    Attributes:
        frames: (n,) time-step keys (``PairedFrames.frames``), sorted.
        shapes: (n, 2) height and width of each crop.
        offsets: (n + 1,) where each crop's pixels start in ``rgb`` / ``depth``.
        rgb: (total, 3) uint8 pixels, row-major per crop.
        depth: (total,) uint16 pixels.
    """

    frames: np.ndarray
    shapes: np.ndarray
    offsets: np.ndarray
    rgb: np.ndarray
    depth: np.ndarray

    @classmethod
    def of_frames(cls, frames: PairedFrames) -> StoredCrops:
        """The crops of ``frames`` as stored crops (no copy of the pixels)."""
        order = np.argsort(frames.frames, kind="stable")
        if not np.array_equal(order, np.arange(len(order))):
            frames = frames.select(order)
        n, (h, w) = len(frames), frames.image_size
        return cls(np.asarray(frames.frames), np.tile([h, w], (n, 1)),
                   np.arange(n + 1, dtype=np.int64) * h * w,
                   frames.rgb.reshape(-1, 3), frames.depth.reshape(-1))

    @classmethod
    def of_images(cls, keys: np.ndarray, pairs: Iterable[tuple[np.ndarray, np.ndarray]]
                  ) -> StoredCrops:
        """Stored crops from (RGB, depth) pairs in the order of ``keys``."""
        rgb, depth, shapes = [], [], []
        for r, d in pairs:
            if r.shape[:2] != d.shape:
                raise DatasetError(f"an RGB crop of {r.shape[:2]} has a depth twin of "
                                   f"{d.shape}; stored crops must pair pixel for pixel")
            rgb.append(r.reshape(-1, 3))
            depth.append(d.reshape(-1).astype(np.uint16))
            shapes.append(d.shape)
        order = np.argsort(keys, kind="stable")
        sizes = np.array([s[0] * s[1] for s in shapes], dtype=np.int64)[order]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return cls(np.asarray(keys)[order], np.array(shapes, dtype=np.int64)[order], offsets,
                   np.concatenate([rgb[i] for i in order]) if rgb else np.zeros((0, 3), np.uint8),
                   np.concatenate([depth[i] for i in order]) if depth
                   else np.zeros(0, np.uint16))

    def positions(self, keys: np.ndarray) -> np.ndarray:
        """Where the crops of time steps ``keys`` are; DatasetError names a missing one."""
        keys = np.asarray(keys)
        where = np.clip(np.searchsorted(self.frames, keys), 0, max(len(self.frames) - 1, 0))
        missing = len(self.frames) == 0 or not np.array_equal(self.frames[where], keys)
        if missing:
            absent = keys[self.frames[where] != keys] if len(self.frames) else keys
            raise DatasetError(f"no stored crop of time step {int(absent[0])}; the stored crops "
                               f"belong to another data set or build")
        return where

    def image(self, modality: str, position: int) -> np.ndarray:
        """One crop: ``rgb`` (h, w, 3) uint8 or ``depth`` (h, w) uint16."""
        h, w = (int(v) for v in self.shapes[position])
        start, stop = self.offsets[position], self.offsets[position + 1]
        if modality == "rgb":
            return np.asarray(self.rgb[start:stop]).reshape(h, w, 3)
        return np.asarray(self.depth[start:stop]).reshape(h, w)



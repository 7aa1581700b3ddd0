"""Turn depth crops into the 3-channel uint8 images that RGB feature extractors take.

The paper says only that "the same features" are extracted from both modalities; its
authors fed 8-bit depth images replicated to three channels. ``"normalised"`` (the
default) does that per crop: valid readings (> 0) are stretched linearly so that the
nearest valid point of the crop is 255 and the farthest is 1; missing readings are 0.
Per-crop stretching removes the absolute distance to the camera (which says where a
person stood, not who they are) while keeping the body's relief. ``"colormap"``
applies OpenCV's JET colour map to the same stretched values (missing stays black).
"""

from __future__ import annotations

import cv2
import numpy as np

DEPTH_ENCODINGS = ("normalised", "colormap")


def normalise_depth(depth: np.ndarray) -> np.ndarray:
    """(n, h, w) uint16 millimetres -> (n, h, w) uint8, per-crop stretched, 0 = missing."""
    depth = np.asarray(depth)
    if depth.ndim != 3:
        raise ValueError(f"depth must be (n, h, w), got shape {depth.shape}")
    d = depth.astype(np.float64)
    valid = d > 0
    big = np.where(valid, d, np.inf).reshape(len(d), -1).min(1)
    small = np.where(valid, d, -np.inf).reshape(len(d), -1).max(1)
    near = np.where(np.isfinite(big), big, 0.0)[:, None, None]
    far = np.where(np.isfinite(small), small, 0.0)[:, None, None]
    span = np.maximum(far - near, 1.0)
    scaled = 1.0 + 254.0 * (far - d) / span
    return np.where(valid, np.rint(scaled), 0).astype(np.uint8)


def depth_to_image(depth: np.ndarray, encoding: str = "normalised") -> np.ndarray:
    """(n, h, w) uint16 depth -> (n, h, w, 3) uint8 image in the chosen ``encoding``."""
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"unknown depth encoding {encoding!r}; expected one of "
                         f"{DEPTH_ENCODINGS}")
    grey = normalise_depth(depth)
    if encoding == "normalised":
        return np.repeat(grey[..., None], 3, axis=-1)
    coloured = np.stack([cv2.applyColorMap(g, cv2.COLORMAP_JET)[..., ::-1] for g in grey])
    return np.where((grey > 0)[..., None], coloured, 0).astype(np.uint8)

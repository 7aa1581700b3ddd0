"""Resizing person crops with a named kernel.

``"opencv"``: area averaging when shrinking, bilinear when enlarging (RGB), nearest
neighbour (depth, so no reading is blended with a missing one). ``"pil-bilinear"``: PIL's
``Image.BILINEAR`` for both modalities, as the authors' ``RectScale`` and
``RandomSizedRectCrop`` (``open-reid/reid/utils/data/transforms.py:9-19,44``); their depth
JPEG is ``.convert('RGB')``'d first, three equal channels that PIL resizes exactly as the
one grey channel (tested). PIL is used itself, since the point is to equal its output exactly.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

RESIZES = ("opencv", "pil-bilinear")


def pil_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) or (h, w, 3) uint8 / uint16 image -> ``size`` (h, w), PIL bilinear, same dtype.

    An image already of ``size`` is returned unchanged, as ``RectScale`` does. Depth
    that fits in 8 bits (the prepared layout's grey levels in the uint16 depth field) is
    resized as the 8-bit image it was stored as; other 16-bit depth in PIL's 32-bit
    integer mode (whose rounding differs from the 8-bit mode's).
    """
    h, w = size
    if image.shape[:2] == (h, w):
        return image
    if image.dtype == np.uint16 and image.ndim == 2 and int(image.max(initial=0)) <= 255:
        return pil_bilinear(image.astype(np.uint8), size).astype(np.uint16)
    if image.dtype == np.uint8:
        return np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
            (w, h), Image.BILINEAR))
    wide = Image.fromarray(np.ascontiguousarray(image, dtype=np.int32), mode="I")
    out = np.asarray(wide.resize((w, h), Image.BILINEAR))
    return np.clip(out, 0, np.iinfo(image.dtype).max).astype(image.dtype)


def resize_rgb(image: np.ndarray, size: tuple[int, int], kernel: str) -> np.ndarray:
    """An (h, w, 3) uint8 RGB crop resized to ``size`` (h, w) with ``kernel``."""
    if kernel == "pil-bilinear":
        return pil_bilinear(image, size)
    h, w = size
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if image.shape[0] >= h
                      else cv2.INTER_LINEAR)


def resize_depth(image: np.ndarray, size: tuple[int, int], kernel: str) -> np.ndarray:
    """An (h, w) depth crop resized to ``size`` (h, w) with ``kernel``, same dtype."""
    if kernel == "pil-bilinear":
        return pil_bilinear(image, size)
    h, w = size
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_NEAREST)

"""Person boxes and crops: Kinect v1 depth-to-RGB mapping, box padding, crop-and-resize.

Boxes are ``(top, bottom, left, right)`` pixel bounds, half-open, in one image's pixels.
"""

from __future__ import annotations

import numpy as np

from methods.core.resize import resize_depth, resize_rgb

Box = tuple[int, int, int, int]

# Kinect v1 default calibration (BIWI RGBD-ID: depth 640x480, RGB 1280x960); checked on a
# real BIWI frame to a few RGB pixels.
DEPTH_FOCAL, DEPTH_CX, DEPTH_CY = 575.8, 319.5, 239.5
RGB_FOCAL, RGB_CX, RGB_CY = 1050.0, 639.0, 479.0
BASELINE_M = 0.025
RGB_WIDTH = 1280


def depth_to_rgb(u: np.ndarray, v: np.ndarray, z_mm: np.ndarray, rgb_width: int = RGB_WIDTH
                 ) -> tuple[np.ndarray, np.ndarray]:
    """RGB pixel coordinates of depth pixels (u, v) at depth ``z_mm`` (> 0).

    Back-projects with the depth intrinsics, shifts by the 2.5 cm baseline and projects
    with the RGB intrinsics; an RGB image of another width is scaled accordingly.
    """
    z = np.asarray(z_mm, dtype=np.float64) / 1000.0
    x = (np.asarray(u, dtype=np.float64) - DEPTH_CX) * z / DEPTH_FOCAL
    y = (np.asarray(v, dtype=np.float64) - DEPTH_CY) * z / DEPTH_FOCAL
    scale = rgb_width / RGB_WIDTH
    u_rgb = ((x + BASELINE_M) * RGB_FOCAL / z + RGB_CX) * scale
    v_rgb = (y * RGB_FOCAL / z + RGB_CY) * scale
    return u_rgb, v_rgb


def mask_box(mask: np.ndarray) -> Box | None:
    """The tight box of a boolean mask, ``None`` when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def rgb_box_of_mask(mask: np.ndarray, depth: np.ndarray, rgb_shape: tuple[int, int]) -> Box:
    """The RGB-image box covering a depth-image person mask (mask pixels need depth > 0)."""
    v, u = np.nonzero(mask)
    u_rgb, v_rgb = depth_to_rgb(u, v, depth[v, u], rgb_shape[1])
    half = 0.5 * RGB_FOCAL / DEPTH_FOCAL * rgb_shape[1] / RGB_WIDTH  # half a depth pixel
    box = (int(np.floor(v_rgb.min() - half)), int(np.ceil(v_rgb.max() + half)),
           int(np.floor(u_rgb.min() - half)), int(np.ceil(u_rgb.max() + half)))
    return clip_box(box, rgb_shape)


def clip_box(box: Box, shape: tuple[int, int]) -> Box:
    """``box`` clipped to an image of ``shape`` (h, w), at least one pixel large."""
    top, bottom, left, right = box
    h, w = shape[:2]
    top, left = min(max(top, 0), h - 1), min(max(left, 0), w - 1)
    return top, min(max(bottom, top + 1), h), left, min(max(right, left + 1), w)


def pad_box(box: Box, margin: float, aspect: float, shape: tuple[int, int]) -> Box:
    """Grow ``box`` by ``margin`` x its height on every side, then to height/width ``aspect``.

    The box keeps its centre; the shorter side grows so that the crop is not distorted
    when it is resized (except where the image border clips it).
    """
    top, bottom, left, right = box
    pad = margin * (bottom - top)
    h, w = bottom - top + 2 * pad, right - left + 2 * pad
    h, w = max(h, w * aspect), max(w, h / aspect)
    cy, cx = (top + bottom) / 2, (left + right) / 2
    grown = (int(round(cy - h / 2)), int(round(cy + h / 2)),
             int(round(cx - w / 2)), int(round(cx + w / 2)))
    return clip_box(grown, shape)


def crop_resize(image: np.ndarray, box: Box, size: tuple[int, int], nearest: bool = False
                ) -> np.ndarray:
    """``image[box]`` resized to ``size`` (h, w): nearest neighbour (depth) or area/linear."""
    top, bottom, left, right = box
    crop = np.ascontiguousarray(image[top:bottom, left:right])
    return (resize_depth if nearest else resize_rgb)(crop, size, "opencv")

"""Dalal-Triggs HOG as the ``HoG.cpp`` MEX of the WHOS code computes it for colour images.

``HoG(double(I), [bins cell block 0 clip])`` (``FeatureExtraction/util/demo_kcca_fea/HoG.cpp``
in the person re-identification benchmark; not vlfeat's ``vl_hog``) does, for an RGB image:

* central differences on each channel with zero padding outside the image; the y axis points
  up (``dy = above - below``); the border differences keep their sign, ``-0.0`` included,
  because ``atan2`` tells ``-0.0`` from ``+0.0``;
* per pixel the channel with the largest float32 magnitude wins, the first one on ties;
* unsigned orientation ``atan2f(dy, dx)`` folded into ``[0, pi]`` with the MEX's float ``pi``;
  ``bins`` orientation bins centred at ``(k + 1/2) * pi / bins``, so a horizontal gradient
  splits its vote between the first and the last bin;
* trilinear votes into cells centred at ``8c - 3.5`` (1-based pixels) on a grid with one extra
  cell on each side (``2 + ceil(size / cell - 1/2)`` cells per axis);
* ``block`` x ``block`` cell blocks stepping one cell, starting at cells ``1 .. cells-block-1``
  (the outer ring of cells collects votes but never enters a block); each block is
  L2-normalised, clipped at ``clip`` and L2-normalised again, both norms accumulated in float32;
* a block whose first norm is zero is not written: the MEX's block buffer still holds the
  previous block, which is normalised and emitted again (zeros before the first non-zero one);
* output order: block column, block row, then cell row, cell column, orientation.

The float32 steps (magnitudes, ``atan2f``, bin centres, norm accumulation) are reproduced with
float32 arithmetic, so the result matches the MEX to its own precision; ``atan2f`` is numpy's
float32 ``arctan2``: the C library's, except where numpy picks its AVX-512 kernel, which differs
in the last bit for many gradients, so the bits of the result depend on the CPU. Written here
because scikit-image's and OpenCV's HOG differ in gradient, voting, block layout and
normalisation.
"""

from __future__ import annotations

import numpy as np

_PI = np.float32(3.1415926536)


def hog_dimension(height: int, width: int, cell: int = 8, block: int = 2,
                  bins: int = 4) -> int:
    """Length of ``hog_whos`` output for an image of that size (0 when no block fits)."""
    rows = 2 + int(np.ceil(-0.5 + height / cell)) - block - 1
    cols = 2 + int(np.ceil(-0.5 + width / cell)) - block - 1
    return max(rows, 0) * max(cols, 0) * block * block * bins


def _gradients(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded central differences (float32, channel first) of (n, h, w, 3) images, y axis
    pointing up."""
    p = np.moveaxis(images, -1, 0).astype(np.float32)
    dx = np.empty_like(p)
    dx[..., 1:-1] = p[..., 2:] - p[..., :-2]
    dx[..., 0] = p[..., 1]
    dx[..., -1] = -p[..., -2]
    dy = np.empty_like(p)
    dy[..., 1:-1, :] = p[..., :-2, :] - p[..., 2:, :]
    dy[..., 0, :] = -p[..., 1, :]
    dy[..., -1, :] = p[..., -2, :]
    return dx, dy


def _cell_matrix(length: int, cell: int) -> np.ndarray:
    """(cells, length) spatial vote weights along one axis, as the MEX computes them."""
    cells = 2 + int(np.ceil(-0.5 + length / cell))
    pos = np.arange(length)
    lower = np.floor(0.5 + pos / cell).astype(np.intp)
    centre = ((lower + 1 - 1.5) * cell + 0.5).astype(np.float32)
    upper_w = ((pos + 1).astype(np.float32) - centre).astype(np.float64) / cell
    weights = np.zeros((cells, length))
    weights[lower, pos] = 1.0 - upper_w
    weights[lower + 1, pos] = upper_w
    return weights


def _float32_norm(values: np.ndarray) -> np.ndarray:
    """sqrt of the sum of squares along the last axis, accumulated in float32 in order."""
    acc = np.zeros(values.shape[:-1], dtype=np.float32)
    for k in range(values.shape[-1]):
        acc = (acc.astype(np.float64) + values[..., k] * values[..., k]).astype(np.float32)
    return np.sqrt(acc)


def cell_histograms(images: np.ndarray, cell: int = 8, bins: int = 4) -> np.ndarray:
    """(n, h, w, 3) images -> (n, cells_y, cells_x, bins) interpolated HOG cell histograms."""
    dx, dy = _gradients(images)
    mags = np.sqrt(dx * dx + dy * dy)
    # Channel 0 first; a later channel takes over only when strictly larger.
    mag, gx, gy = mags[0].copy(), dx[0].copy(), dy[0].copy()
    for c in (1, 2):
        better = mags[c] > mag
        np.copyto(mag, mags[c], where=better)
        np.copyto(gx, dx[c], where=better)
        np.copyto(gy, dy[c], where=better)
    angle = np.arctan2(gy, gx)
    np.add(angle, _PI, out=angle, where=angle < 0)
    bin_size = float(_PI / np.float32(bins))
    nearest = np.floor(angle.astype(np.float64) / bin_size + 0.5)  # lower bin + 1
    centre = ((nearest - 0.5) * bin_size).astype(np.float32)
    upper_w = (angle - centre).astype(np.float64) / bin_size
    lower = nearest.astype(np.intp) - 1
    upper = lower + 1
    upper[upper == bins] = 0
    lower[lower < 0] = bins - 1
    # Orientation votes, bin-major: (bins, n, h, w).
    size = mag.size
    pixel = np.arange(size)
    weight = mag.astype(np.float64)
    index = np.concatenate([lower.ravel() * size + pixel, upper.ravel() * size + pixel])
    share = np.concatenate([(weight * (1.0 - upper_w)).ravel(), (weight * upper_w).ravel()])
    votes = np.bincount(index, share, minlength=bins * size)
    n, h, w = mag.shape
    along_x = votes.reshape(-1, w) @ _cell_matrix(w, cell).T  # (bins * n * h, cells_x)
    along_x = along_x.reshape(bins * n, h, -1)
    cells = np.matmul(_cell_matrix(h, cell), along_x)  # (bins * n, cells_y, cells_x)
    return cells.reshape(bins, n, *cells.shape[1:]).transpose(1, 2, 3, 0)


def hog_whos(images: np.ndarray, cell: int = 8, block: int = 2, bins: int = 4,
             clip: float = 0.25) -> np.ndarray:
    """(n, h, w, 3) RGB images (values 0..255) -> (n, d) HOG as ``HoG(double(I), params)'``."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    d = hog_dimension(h, w, cell, block, bins)
    if d == 0:
        return np.zeros((n, 0))
    cells = cell_histograms(images, cell, bins)
    n_by = cells.shape[1] - block - 1
    n_bx = cells.shape[2] - block - 1
    parts = [cells[:, 1 + i : 1 + i + n_by, 1 + j : 1 + j + n_bx]
             for i in range(block) for j in range(block)]
    blocks = np.stack(parts, axis=3)  # (n, by, bx, cell in block, bins)
    blocks = blocks.transpose(0, 2, 1, 3, 4).reshape(n, n_bx * n_by, block * block * bins)
    norm = _float32_norm(blocks)
    valid = norm > 0
    safe = np.where(valid, norm, np.float32(1)).astype(np.float64)
    blocks = np.minimum(blocks / safe[..., None], clip)
    # Stale block buffer: a zero-norm block repeats the last block that was written.
    last = np.where(valid, np.arange(valid.shape[1]), -1)
    last = np.maximum.accumulate(last, axis=1)
    blocks = np.take_along_axis(blocks, np.maximum(last, 0)[..., None], axis=1)
    blocks[last < 0] = 0.0
    norm = _float32_norm(blocks)
    out = np.where(norm[..., None] > 0,
                   blocks / np.where(norm > 0, norm, np.float32(1)).astype(np.float64)[..., None],
                   0.0)
    return out.reshape(n, d)

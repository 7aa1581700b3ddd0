"""Local Maximal Occurrence (LOMO) descriptor, vectorised over an image batch.

Follows ``LOMO.m`` and ``SILTP.m`` of the LOMO/XQDA package (Shengcai Liao, 2015)
step by step: Retinex, MATLAB-exact HSV and grey conversions, sliding sub-window
histograms, maximum over each horizontal strip, a 2x2 average-pooling pyramid,
log(1 + x) and column normalisation of each part.
"""

from dataclasses import dataclass
from functools import partial

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from features import multiscale_retinex
from features.libm import c_log
from features.matlab_colour import rgb2gray, rgb2hsv_channels
from features.multiscale_retinex import check_images, map_chunks

_CHUNK_PIXELS = 1 << 18
_HISTOGRAM_ENTRIES = 1 << 18
_NEIGHBOURS = {
    4: ((0, 1), (-1, 0), (0, -1), (1, 0)),
    8: ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)),
}


def _positive_integers(name: str, value: object, length: int | None = None) -> tuple[int, ...]:
    """``value`` (a number or a sequence) as a tuple of positive integers, else ValueError."""
    array = np.atleast_1d(np.asarray(value))
    valid = (
        array.ndim == 1
        and array.size > 0
        and (length is None or array.size == length)
        and np.issubdtype(array.dtype, np.number)
        and bool(np.all(array == np.floor(array)))
        and bool(np.all(array >= 1))
    )
    if not valid:
        count = "one or more" if length is None else ("a" if length == 1 else str(length))
        raise ValueError(f"{name} must be {count} positive integer(s), got {value!r}")
    return tuple(int(v) for v in array)


@dataclass(frozen=True)
class _Options:
    """Validated LOMO parameters (names as in ``LOMO.m``)."""

    num_scales: int
    block_size: int
    block_step: int
    hsv_bins: tuple[int, int, int]
    tau: float
    radii: tuple[int, ...]
    num_points: int

    @classmethod
    def create(
        cls,
        num_scales: int,
        block_size: int,
        block_step: int,
        hsv_bins: tuple[int, int, int],
        tau: float,
        radii: tuple[int, ...] | int,
        num_points: int,
    ) -> "_Options":
        """Check each parameter, raising ValueError that names the first bad one."""
        (num_scales,) = _positive_integers("num_scales", num_scales, 1)
        (block_size,) = _positive_integers("block_size", block_size, 1)
        (block_step,) = _positive_integers("block_step", block_step, 1)
        bins = _positive_integers("hsv_bins", hsv_bins, 3)
        if not (isinstance(tau, int | float | np.number) and tau > 0):
            raise ValueError(f"tau must be a positive number, got {tau!r}")
        radii = _positive_integers("R", radii)
        if num_points not in _NEIGHBOURS:
            raise ValueError(f"num_points must be 4 or 8 (as in SILTP.m), got {num_points!r}")
        return cls(num_scales, block_size, block_step, bins, float(tau), radii, int(num_points))


def _num_blocks(length: int, opts: _Options) -> int:
    """Sub-window positions along one side: MATLAB's ``1:blockStep:length-blockSize+1``."""
    return len(range(0, length - opts.block_size + 1, opts.block_step))


def _pooled(height: int, width: int) -> tuple[int, int]:
    """Size after 2x2 pooling, which drops an odd last row or column."""
    if height < 2 or width < 2:
        raise ValueError(f"over-scaled image: cannot pool a {height}x{width} level")
    return height // 2, width // 2


def _colour_strips(height: int, width: int, opts: _Options) -> list[int]:
    """Strips per pyramid level of the HSV part; levels stop at the first without a sub-window."""
    strips = []
    for level in range(opts.num_scales):
        rows, cols = _num_blocks(height, opts), _num_blocks(width, opts)
        if rows * cols == 0:
            break
        strips.append(rows)
        if level < opts.num_scales - 1:
            height, width = _pooled(height, width)
    return strips


def _siltp_strips(height: int, width: int, radius: int, opts: _Options) -> list[int]:
    """Strips per pyramid level of one SILTP part, following LOMO.m's loop.

    A level narrower than 2R + 1 is skipped without pooling (so all later levels are
    too); a level at least that wide but shorter is an error in SILTP.m, and here.
    """
    strips = []
    for level in range(opts.num_scales):
        if width < 2 * radius + 1:
            continue
        if height < 2 * radius + 1:
            raise ValueError(
                f"pyramid level {level + 1} is {height}x{width}: "
                f"too short for SILTP radius {radius}"
            )
        rows, cols = _num_blocks(height, opts), _num_blocks(width, opts)
        if rows * cols == 0:
            break
        strips.append(rows)
        if level < opts.num_scales - 1:
            height, width = _pooled(height, width)
    return strips


def _part_sizes(height: int, width: int, opts: _Options) -> list[int]:
    """Length of the colour part and of each SILTP part, in output order."""
    if height < opts.block_size or width < opts.block_size:
        raise ValueError(
            f"images of {height}x{width} pixels are too small for one "
            f"{opts.block_size}x{opts.block_size} sub-window"
        )
    colour = sum(_colour_strips(height, width, opts)) * int(np.prod(opts.hsv_bins))
    patterns = 3**opts.num_points
    return [colour] + [sum(_siltp_strips(height, width, r, opts)) * patterns for r in opts.radii]


def lomo_dimension(
    height: int,
    width: int,
    *,
    num_scales: int = 3,
    block_size: int = 10,
    block_step: int = 5,
    hsv_bins: tuple[int, int, int] = (8, 8, 8),
    tau: float = 0.3,
    R: tuple[int, ...] | int = (3, 5),
    num_points: int = 4,
) -> int:
    """Length of the LOMO descriptor of ``height`` x ``width`` images.

    With level sizes h_s = floor(h / 2^s), w_s = floor(w / 2^s) for s = 0 .. num_scales - 1
    and S_s = floor((h_s - block_size) / block_step) + 1 strips per level,

        d = prod(hsv_bins) * sum_s S_s  +  3^num_points * sum_R sum_s' S_s',

    where the colour sum stops at the first level with h_s or w_s below block_size, and the
    sum for radius R also leaves out levels with w_s < 2R + 1. For 128x48 images and the
    defaults this is 512 * (24 + 11 + 5) + 81 * 2 * 40 = 26,960.
    """
    opts = _Options.create(num_scales, block_size, block_step, hsv_bins, tau, R, num_points)
    return sum(_part_sizes(height, width, opts))


def siltp(images: np.ndarray, tau: float = 0.3, radius: int = 3, num_points: int = 4) -> np.ndarray:
    """Scale-invariant local ternary patterns of an ``(n, h, w)`` float batch, as ``SILTP.m``.

    Borders are replicated. Neighbour j (right, up, left, down for 4 points; right,
    up-right, up, up-left, left, down-left, down, down-right for 8) contributes
    3^j * ([x_j < (1 - tau) x] + 2 [x_j > (1 + tau) x]). Codes lie in [0, 3^num_points).
    """
    n, h, w = images.shape
    if num_points not in _NEIGHBOURS:
        raise ValueError(f"num_points must be 4 or 8, got {num_points!r}")
    if min(h, w) < 2 * radius + 1:
        raise ValueError(f"{h}x{w} images are too small for SILTP radius {radius}")
    pad = ((0, 0), (radius, radius), (radius, radius))
    padded = np.pad(images, pad, mode="edge")
    low, high = (1 - tau) * images, (1 + tau) * images
    codes = np.zeros((n, h, w), np.uint16)
    for j, (dy, dx) in enumerate(_NEIGHBOURS[num_points]):
        top, left = radius + dy * radius, radius + dx * radius
        neighbour = padded[:, top : top + h, left : left + w]
        codes += (neighbour < low).astype(np.uint16) * 3**j
        codes += (neighbour > high).astype(np.uint16) * (2 * 3**j)
    return codes


def hsv_indices(images: np.ndarray, bins: tuple[int, int, int] = (8, 8, 8)) -> np.ndarray:
    """Quantised H, S, V of a uint8 RGB batch, ``(3, ...)``: min(floor(x * bins), bins - 1)."""
    indices = []
    for x, k in zip(rgb2hsv_channels(images), bins, strict=True):
        x *= k
        # x is non-negative, so truncation is the floor.
        indices.append(np.minimum(x.astype(np.intp), k - 1))
    return np.stack(indices)


def pool_indices(indices: np.ndarray) -> np.ndarray:
    """2x2 average pooling of integer colour indices over the last two axes, floored.

    LOMO.m pools the quantised H, S and V indices, not the colours, and floors the mean.
    """
    h, w = _pooled(indices.shape[-2], indices.shape[-1])
    even = indices[..., : 2 * h, : 2 * w]
    top, bottom = even[..., 0::2, :], even[..., 1::2, :]
    return (top[..., 0::2] + bottom[..., 0::2] + top[..., 1::2] + bottom[..., 1::2]) // 4


def pool_gray(images: np.ndarray) -> np.ndarray:
    """2x2 average pooling of an ``(n, h, w)`` float batch, as LOMO.m's ``mean(x, 4)``.

    The four values are added in MATLAB's storage order, top-left, bottom-left,
    top-right, bottom-right, then divided by 4; the order fixes the rounding.
    """
    h, w = _pooled(images.shape[1], images.shape[2])
    even = images[:, : 2 * h, : 2 * w]
    top_left, bottom_left = even[:, 0::2, 0::2], even[:, 1::2, 0::2]
    top_right, bottom_right = even[:, 0::2, 1::2], even[:, 1::2, 1::2]
    return (((top_left + bottom_left) + top_right) + bottom_right) / 4


def strip_max_histograms(
    patterns: np.ndarray, num_bins: int, block_size: int = 10, block_step: int = 5
) -> np.ndarray:
    """Histograms of every sub-window, maximised over the sub-windows of each strip.

    ``patterns`` is an ``(n, h, w)`` array of integer codes in [0, num_bins). Sub-windows
    are ``block_size`` squares whose top-left corners step by ``block_step`` from (0, 0).
    Returns ``(n, strips * num_bins)`` counts ordered strip by strip, bins within a strip.
    Images are counted a few at a time so the per-sub-window counts stay in cache.
    """
    windows = sliding_window_view(patterns, (block_size, block_size), axis=(1, 2))
    windows = windows[:, ::block_step, ::block_step]
    n, rows, cols = windows.shape[:3]
    out = np.empty((n, rows, num_bins), np.intp)
    group = max(1, _HISTOGRAM_ENTRIES // (rows * cols * num_bins))
    for start in range(0, n, group):
        part = windows[start : start + group]
        keys = part.reshape(-1, block_size * block_size).astype(np.intp)
        keys += np.arange(0, keys.shape[0] * num_bins, num_bins)[:, None]
        counts = np.bincount(keys.ravel(), minlength=keys.shape[0] * num_bins)
        out[start : start + group] = counts.reshape(-1, rows, cols, num_bins).max(axis=2)
    return out.reshape(n, rows * num_bins)


def _normalise(histograms: list[np.ndarray], n: int) -> np.ndarray:
    """log(1 + x) of the concatenated levels, then unit L2 norm per image (MATLAB ``normc``).

    ``normc`` of the Neural Network Toolbox contemporary with LOMO multiplies by the
    reciprocal norm, x .* (1 ./ sqrt(sum(x .^ 2))), rather than dividing.
    """
    if not histograms:
        return np.zeros((n, 0))
    counts = np.concatenate(histograms, axis=1)
    # Counts are small integers, so log(x + 1) is looked up in a table of the C library's log.
    features = c_log(np.arange(counts.max() + 1) + 1.0)[counts]
    return features * (1 / np.sqrt(np.sum(features * features, axis=1, keepdims=True)))


def _colour_part(images: np.ndarray, opts: _Options) -> np.ndarray:
    """HSV part of LOMO.m (``PyramidMaxJointHist``) for a uint8 RGB chunk."""
    h_bins, s_bins, v_bins = opts.hsv_bins
    indices = hsv_indices(images, opts.hsv_bins)
    levels = []
    for _ in _colour_strips(images.shape[1], images.shape[2], opts):
        if levels:
            indices = pool_indices(indices)
        patterns = indices[2] * (s_bins * h_bins) + indices[1] * h_bins + indices[0]
        counts = strip_max_histograms(
            patterns, h_bins * s_bins * v_bins, opts.block_size, opts.block_step
        )
        levels.append(counts)
    return _normalise(levels, images.shape[0])


def _siltp_part(gray: np.ndarray, radius: int, opts: _Options) -> np.ndarray:
    """SILTP part of LOMO.m (``PyramidMaxSILTPHist``) for one radius."""
    levels = []
    for _ in _siltp_strips(gray.shape[1], gray.shape[2], radius, opts):
        if levels:
            gray = pool_gray(gray)
        codes = siltp(gray, opts.tau, radius, opts.num_points)
        counts = strip_max_histograms(codes, 3**opts.num_points, opts.block_size, opts.block_step)
        levels.append(counts)
    return _normalise(levels, gray.shape[0])


def siltp_histograms(images: np.ndarray, *, num_scales: int = 3, block_size: int = 10,
                     block_step: int = 5, tau: float = 0.3, R: tuple[int, ...] | int = (3, 5),
                     num_points: int = 4) -> np.ndarray:
    """LOMO's SILTP parts alone (one per radius in ``R``) of an ``(n, h, w, 3)`` uint8 batch.

    The same numbers as the SILTP columns of :func:`lomo` with the same options.
    """
    images = check_images(images)
    opts = _Options.create(num_scales, block_size, block_step, (8, 8, 8), tau, R, num_points)
    gray = rgb2gray(images) / 255
    return np.concatenate([_siltp_part(gray, radius, opts) for radius in opts.radii], axis=1)


def _lomo_chunk(images: np.ndarray, opts: _Options, use_retinex: bool) -> np.ndarray:
    """LOMO descriptors of a chunk of the batch, parts in LOMO.m's order."""
    colour = multiscale_retinex.retinex(images, workers=1) if use_retinex else images
    gray = rgb2gray(images) / 255
    parts = [_colour_part(colour, opts)]
    parts += [_siltp_part(gray, radius, opts) for radius in opts.radii]
    return np.concatenate(parts, axis=1)


def lomo(
    images: np.ndarray,
    retinex: bool = True,
    *,
    num_scales: int = 3,
    block_size: int = 10,
    block_step: int = 5,
    hsv_bins: tuple[int, int, int] = (8, 8, 8),
    tau: float = 0.3,
    R: tuple[int, ...] | int = (3, 5),
    num_points: int = 4,
    workers: int | None = None,
) -> np.ndarray:
    """LOMO descriptors of an ``(n, h, w, 3)`` uint8 RGB batch, as an ``(n, d)`` float64 array.

    Reimplements ``LOMO.m`` of the LOMO/XQDA package (S. Liao, Y. Hu, X. Zhu and S. Z. Li,
    "Person re-identification by local maximal occurrence representation and metric
    learning", CVPR 2015) with the same numbers: the joint HSV histogram of the
    Retinex-processed image (skipped when ``retinex`` is False), then one SILTP part per
    radius in ``R`` computed on the grey image; each part is log(1 + x) and L2 normalised.
    Options keep LOMO.m's names and defaults; ``d`` is given by :func:`lomo_dimension`
    (26,960 for 128x48 images). Chunks of the batch run on ``workers`` threads (default:
    all usable CPUs). Raises ValueError for a wrong dtype or shape, images smaller than one
    sub-window, or options LOMO.m would reject.
    """
    images = check_images(images)
    opts = _Options.create(num_scales, block_size, block_step, hsv_bins, tau, R, num_points)
    n, h, w, _ = images.shape
    out = np.empty((n, sum(_part_sizes(h, w, opts))))
    chunk = max(1, _CHUNK_PIXELS // (h * w))
    compute = partial(_lomo_chunk, opts=opts, use_retinex=retinex)
    return map_chunks(compute, images, chunk, out, workers)

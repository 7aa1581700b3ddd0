"""Multi-scale Retinex with colour restoration, as applied by the LOMO package.

The LOMO/XQDA release ships its Retinex only as compiled MEX binaries. Their output
is a GIMP-retinex-style MSRCR with fixed settings, computed in float64; this module
reproduces it operation by operation so that the uint8 result is identical. Its logarithms
are the C library's (``features.libm``), not numpy's SIMD ones, so the bits do not depend
on the CPU's instruction set.

Internally a chunk of images is held pixel-major with the batch as the last axis,
``(h, w, 3, n)``, so each sequential filter step, the order statistics and the
in-order mean act on whole contiguous slabs of the batch at once.
"""

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

from features.libm import c_log

SIGMAS = (5.0, 20.0)
OFFSET = 10.0
LOW_QUANTILE = 0.025
HIGH_QUANTILE = 0.975
STRETCH_SHIFT = 10.0
_CHUNK_PIXELS = 1 << 18


def gaussian_coefficients(sigma: float) -> tuple[float, float, float, float, float]:
    """Young-van Vliet coefficients ``(B, b0, b1, b2, b3)`` for ``sigma >= 2.5``.

    Evaluated as GIMP's ``compute_coefs3`` writes them, with q2 = q * q, q3 = q * q2 and
    sums left to right, which fixes the last bit of each coefficient.
    """
    q = 0.98711 * sigma - 0.96330
    q2 = q * q
    q3 = q * q2
    b0 = 1.57825 + (2.44413 * q) + (1.4281 * q2) + (0.422205 * q3)
    b1 = (2.44413 * q) + (2.85619 * q2) + (1.26661 * q3)
    b2 = -((1.4281 * q2) + (1.26661 * q3))
    b3 = 0.422205 * q3
    big_b = 1.0 - ((b1 + b2 + b3) / b0)
    return big_b, b0, b1, b2, b3


def recursive_gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Young-van Vliet recursive Gaussian of float64 ``x`` along axis 0, as GIMP's retinex runs it.

    Forward: w1[0..2] = x[0], w1[k] = B x[k-3] + (b1 w1[k-1] + b2 w1[k-2] + b3 w1[k-3]) / b0
    for k = 3 .. N+2. Backward: w2[N..N+2] = w1[N+2], then for i = N-1 down to 0,
    w2[i] = B w1[i] + (b1 w2[i+1] + b2 w2[i+2] + b3 w2[i+3]) / b0; returns w2[0..N-1].
    Each step keeps that operation order, so the result is bit-identical to the scalar
    loop; the recursion runs along axis 0 and each step covers all other axes at once.
    """
    big_b, b0, b1, b2, b3 = gaussian_coefficients(sigma)
    n = x.shape[0]
    acc = np.empty(x.shape[1:])
    term = np.empty(x.shape[1:])
    w = np.empty((n + 3, *x.shape[1:]))

    def add_feedback(out: np.ndarray, w_1: np.ndarray, w_2: np.ndarray, w_3: np.ndarray) -> None:
        """out += ((b1 * w_1 + b2 * w_2) + b3 * w_3) / b0, with out holding the B-term."""
        np.multiply(w_1, b1, out=acc)
        np.multiply(w_2, b2, out=term)
        acc.__iadd__(term)
        np.multiply(w_3, b3, out=term)
        acc.__iadd__(term)
        acc.__itruediv__(b0)
        out.__iadd__(acc)

    w[:3] = x[0]
    np.multiply(x, big_b, out=w[3:])
    for k in range(3, n + 3):
        add_feedback(w[k], w[k - 1], w[k - 2], w[k - 3])

    # The backward pass overwrites the same buffer: w1[i] is only needed as B * w1[i].
    w[n : n + 2] = w[n + 2]
    # GIMP's backward pass reads w1[i], not w1[i + 3]: a 3-sample shift, kept on purpose.
    w[:n] *= big_b
    for i in range(n - 1, -1, -1):
        add_feedback(w[i], w[i + 1], w[i + 2], w[i + 3])
    return w[:n]


def _surround(intensity_wh: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian surround of a ``(w, h, 3, n)`` array, returned as ``(h, w, 3, n)``.

    Rows are filtered first (along the width), then columns, as GIMP does.
    """
    rows = recursive_gaussian(intensity_wh, sigma)
    return recursive_gaussian(np.ascontiguousarray(rows.transpose(1, 0, 2, 3)), sigma)


def _order_statistics(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values at sorted positions int(0.025 N) and int(0.975 N) along axis 0 of ``(N, n)``."""
    size = values.shape[0]
    low_at, high_at = int(LOW_QUANTILE * size), int(HIGH_QUANTILE * size)
    per_image = values.T.copy()
    # Two single-position selections are much faster than one two-position partition.
    per_image.partition(high_at, axis=1)
    below = per_image[:, :high_at]
    if low_at < high_at:
        below.partition(low_at, axis=1)
    return per_image[:, low_at], per_image[:, high_at]


@cache
def _restoration_table() -> np.ndarray:
    """log(3 I_c / (I_r + I_g + I_b) + 1) for every pixel value and every channel sum.

    Indexed ``[p_c * 766 + p_r + p_g + p_b]``; I = p + 10 and all sums are exact integers,
    so each entry is bit-identical to evaluating the expression per pixel with the C
    library's ``log``.
    """
    channel = np.arange(256, dtype=np.float64)[:, None] + OFFSET
    total = np.arange(766, dtype=np.float64)[None, :] + 3 * OFFSET
    return c_log(3 * channel / total + 1).ravel()


def in_order_sum(values: np.ndarray) -> np.ndarray:
    """Sum over axis 0 of a C-contiguous ``(N, n)`` array, adding one row at a time in order.

    This is the rounding of a plain C accumulation loop; numpy's pairwise summation along
    a contiguous axis would round differently.
    """
    if values.shape[1] > 1:
        # Reducing the outer axis of a C-contiguous array adds whole rows in turn.
        return np.add.reduce(values, axis=0)
    return np.add.accumulate(values, axis=0)[-1]


def _log_ratio_sum(intensity: np.ndarray) -> np.ndarray:
    """R = sum over sigmas of 0.5 * log(I / max(surround, 1e-6) + 1), for ``(h, w, 3, n)`` I.

    The log is the C library's: its arguments are arbitrary doubles, so there is no table.
    """
    intensity_wh = np.ascontiguousarray(intensity.transpose(1, 0, 2, 3))
    total = np.zeros_like(intensity)
    for sigma in SIGMAS:
        term = _surround(intensity_wh, sigma)
        np.maximum(term, 1e-6, out=term)
        np.divide(intensity, term, out=term)
        term += 1
        term = c_log(term)
        term *= 0.5
        total += term
    return total


def _stretch(values: np.ndarray) -> np.ndarray:
    """In place, clip(255 * (R - lo) / (hi - lo) - 10, 0, 255) per image of ``(..., n)`` R.

    lo and hi are the order statistics of each image; the product with 255 comes before
    the division, as written, and a zero range is taken as 1.
    """
    low, high = _order_statistics(values.reshape(-1, values.shape[-1]))
    spread = high - low
    spread[spread == 0] = 1.0
    values -= low
    values *= 255
    values /= spread
    values -= STRETCH_SHIFT
    return np.clip(values, 0, 255, out=values)


def _colour_restoration(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(3 I_c / (I_r + I_g + I_b) + 1) of uint8 ``(h, w, 3, n)`` pixels, and its mean per image.

    The mean sums the values in (row, column, channel) order, one at a time.
    """
    codes = pixels.astype(np.int32)
    codes *= 766
    codes += pixels.sum(axis=2, dtype=np.int32)[:, :, None]
    restoration = _restoration_table().take(codes)
    size = restoration[..., 0].size
    return restoration, in_order_sum(restoration.reshape(size, -1)) / size


def _restore(stretched: np.ndarray, restoration: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """In place, clip(R1 * CR / mean(CR), 0, 255), multiplying before dividing."""
    stretched *= restoration
    stretched /= mean
    return np.clip(stretched, 0, 255, out=stretched)


def _msrcr(images: np.ndarray) -> np.ndarray:
    """Retinex of a uint8 ``(n, h, w, 3)`` chunk."""
    pixels = np.ascontiguousarray(images.transpose(1, 2, 3, 0))
    intensity = pixels.astype(np.float64)
    intensity += OFFSET
    result = _restore(_stretch(_log_ratio_sum(intensity)), *_colour_restoration(pixels))
    np.maximum(result, pixels, out=result)
    return result.astype(np.uint8).transpose(3, 0, 1, 2)


def available_cpus() -> int:
    """Number of CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def map_chunks(
    func: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    chunk: int,
    out: np.ndarray,
    workers: int | None = None,
) -> np.ndarray:
    """Fill ``out[i:i + chunk] = func(images[i:i + chunk])`` for all chunks, on worker threads.

    numpy releases the GIL inside its loops, so chunks run in parallel; each chunk is
    independent, so the result does not depend on the number of workers.
    """
    starts = range(0, images.shape[0], chunk)

    def run(start: int) -> None:
        out[start : start + chunk] = func(images[start : start + chunk])

    if workers is None:
        workers = available_cpus()
    workers = max(1, min(workers, len(starts)))
    if workers == 1:
        for start in starts:
            run(start)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, starts))
    return out


def check_images(images: np.ndarray) -> np.ndarray:
    """Return ``images`` as an array after checking it is an ``(n, h, w, 3)`` uint8 batch."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (n, h, w, 3), got shape {images.shape}")
    if images.shape[1] == 0 or images.shape[2] == 0:
        raise ValueError(f"images must be at least 1x1 pixels, got shape {images.shape}")
    return images


def retinex(images: np.ndarray, *, workers: int | None = None) -> np.ndarray:
    """Multi-scale Retinex with colour restoration of an ``(n, h, w, 3)`` uint8 RGB batch.

    Per image, in float64: I = pixel + 10; Gaussian surrounds with sigma 5 and 20
    (Young-van Vliet recursive filter, GIMP variant); R = sum over scales of
    0.5 * log(I / surround + 1); one stretch for all channels between the order statistics
    at int(0.025 N) and int(0.975 N), 255 * (R - lo) / (hi - lo) - 10 clipped to [0, 255];
    colour restoration by log(3 I_c / sum(I) + 1) over its mean; the result is floored at
    the input pixel and truncated to uint8. Chunks of the batch run on ``workers`` threads
    (default: all usable CPUs). Returns an ``(n, h, w, 3)`` uint8 array.
    """
    images = check_images(images)
    step = max(1, _CHUNK_PIXELS // (images.shape[1] * images.shape[2]))
    return map_chunks(_msrcr, images, step, np.empty_like(images), workers)

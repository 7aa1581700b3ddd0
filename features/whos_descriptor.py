"""WHOS person descriptor, computed as the authors' public MATLAB code computes it."""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np

from features.hog_dalal import hog_dimension, hog_whos
from features.lbp_vlfeat import LBP_DIMENSION, vl_lbp
from features.libm import c_pow
from features.matlab_colour import rgb2gray, rgb2hsv_channels

COLOUR_BINS = 64
_LBP_CELL = 16
_CHUNK = 32

# Ruzon's RGB2Lab.m: BT.709 primaries, D65 white.
_XYZ = ((0.412453, 0.357580, 0.180423),
        (0.212671, 0.715160, 0.072169),
        (0.019334, 0.119193, 0.950227))
_WHITE_X, _WHITE_Z = 0.950456, 1.088754
_LAB_T = 0.008856


def matlab_round(x: float) -> int:
    """MATLAB ``round`` of a non-negative number: halves go up."""
    return int(math.floor(x + 0.5))


def _matlab_colon(a: float, d: float, b: float) -> list[float]:
    """``a:d:b`` for ``d > 0`` as MATLAB builds it: first half ``a + k*d``, second half
    ``c - k*d`` back from the end point ``c`` (snapped to ``b`` when within tolerance)."""
    tol = 2.0 * np.finfo(float).eps * max(abs(a), abs(b))
    n = round((b - a) / d)
    if a + n * d - b > tol:
        n -= 1
    if n < 0:
        return []
    c = a + n * d
    if c - b > -tol:
        c = b
    out = [0.0] * (n + 1)
    for k in range(n // 2 + 1):
        out[k] = a + k * d
        out[n - k] = c - k * d
    if n % 2 == 0:
        out[n // 2] = (a + c) / 2
    return out


def stripe_rows(height: int, stripes: int = 6) -> list[np.ndarray]:
    """0-based rows of each stripe, as ``GenerateGridBBox`` places patches of height H/stripes.

    Tops are ``floor`` of MATLAB's ``1:H/s:H-H/s+1`` and a stripe runs from its top to
    ``floor(top + H/s - 1)``, so when ``H/s`` is not an integer every stripe has
    ``floor(H/s)`` rows and some rows belong to none (rows 64 and 128 of a 128-row image).
    """
    size = height / stripes
    tops = [math.floor(t) for t in _matlab_colon(1.0, size, height - size + 1.0)]
    return [np.arange(t - 1, math.floor(t + size - 1.0)) for t in tops]


def centre_kernel(height: int, width: int) -> np.ndarray:
    """(H, W) centre-support weights ``exp(-(x-W/2)^2/(W/4)^2 - (y-H/2)^2/(H/4)^2)``.

    ``x, y`` are 1-based pixel coordinates, so the peak sits half a pixel before the true
    centre, and there is no 1/2 in the exponent.
    """
    kx = (np.arange(1, width + 1) - width / 2) ** 2
    ky = (np.arange(1, height + 1) - height / 2) ** 2
    return np.exp(-(kx[None, :] / (width / 4) ** 2) - (ky[:, None] / (height / 4) ** 2))


def background_crop(height: int, width: int) -> tuple[slice, slice]:
    """Rows and columns kept for HOG and LBP: ``bg_h+1 : H-bg_h`` and ``bg_w : W-bg_w``."""
    bg_h = matlab_round(height * 0.0625)
    bg_w = matlab_round(width * 0.125)
    return slice(bg_h, height - bg_h), slice(max(bg_w - 1, 0), width - bg_w)


def rgb_hist_bins(images: np.ndarray) -> np.ndarray:
    """4x4x4 RGB bin, ``floor(v / 64)``, red fastest (MATLAB column-major reshape)."""
    q = images // 64
    return q[..., 0].astype(np.intp) + 4 * q[..., 1] + 16 * q[..., 2]


_UNIT = np.arange(256) / 255


def _planes(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous R, G, B planes of a (..., 3) array."""
    return tuple(np.ascontiguousarray(images[..., c]) for c in range(3))


def hs_hist_bins(images: np.ndarray) -> np.ndarray:
    """8x8 HS bin, ``floor(v / (1.01/8))`` (the top bin is narrower), hue fastest."""
    h, s, _ = rgb2hsv_channels(images)
    width = 1.01 / 8
    return np.floor(h / width).astype(np.intp) + 8 * np.floor(s / width).astype(np.intp)


def _lab_bin(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Lab bin from XYZ (before white normalisation): ``floor(L/25.25)``, a/b split at
    -55, 0, 55 with right-closed intervals (``p_lab.m``), L fastest.

    Cube roots are the C library's ``pow(t, 1/3)`` (``features.libm``), whatever the CPU:
    grey pixels sit on the a = 0 and b = 0 edges, where the last bit decides the bin."""
    x = x / _WHITE_X
    z = z / _WHITE_Z

    def f(t: np.ndarray) -> np.ndarray:
        return np.where(t > _LAB_T, c_pow(t, 1 / 3), 7.787 * t + 16 / 116)

    fx, fy, fz = f(x), f(y), f(z)
    lum = np.where(y > _LAB_T, 116 * c_pow(y, 1 / 3) - 16.0, 903.3 * y)
    a = 500 * (fx - fy)
    b = 200 * (fy - fz)
    l_bin = np.floor(lum / (101 / 4)).astype(np.intp)
    a_bin = (a > -55).astype(np.intp) + (a > 0) + (a > 55)
    b_bin = (b > -55).astype(np.intp) + (b > 0) + (b > 55)
    return l_bin + 4 * a_bin + 16 * b_bin


def _xyz_fma(rgb: np.ndarray) -> np.ndarray:
    """XYZ of (k, 3) RGB in [0, 1] as an FMA dot product: ``fma(m3, B, fma(m2, G, m1*R))``."""
    out = np.empty(rgb.shape, dtype=np.float64)
    for p, pixel in enumerate(rgb):
        for i, row in enumerate(_XYZ):
            acc = row[0] * float(pixel[0])
            for m, c in zip(row[1:], pixel[1:], strict=True):
                acc = float(Fraction(m) * Fraction(float(c)) + Fraction(acc))
            out[p, i] = acc
    return out


def _lab_bins_exact(rgb: np.ndarray) -> np.ndarray:
    """Lab bins of (k, 3) RGB in [0, 1] with the FMA matrix product of ``_xyz_fma``."""
    xyz = _xyz_fma(rgb)
    return _lab_bin(xyz[:, 0], xyz[:, 1], xyz[:, 2])


_GREY_LAB = _lab_bins_exact(np.repeat(np.arange(256)[:, None] / 255, 3, axis=1))
_UNIT_LAB = _lab_bins_exact(np.array([[c & 1, (c >> 1) & 1, (c >> 2) & 1] for c in range(8)],
                                     dtype=np.float64))


def _f_above(t: np.ndarray, dark: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Whether Lab's ``f(t)`` (cube root above 0.008856, linear at and below) exceeds ``c``;
    ``dark`` marks the pixels on the linear branch."""
    out = t > c * c * c
    if dark.any():
        out[dark] = 7.787 * t[dark] + 16 / 116 > c[dark]
    return out


def _lab_bin_fast(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``_lab_bin`` with one cube root instead of three: a and b are compared with the bin
    edges through ``f(X) > f(Y) + edge/500`` and ``f(Z) < f(Y) - edge/200``. Equal to
    ``_lab_bin`` for every colour whose a and b are not within rounding of an edge."""
    x = x / _WHITE_X
    z = z / _WHITE_Z
    dark_x, dark_z = x <= _LAB_T, z <= _LAB_T
    above = y > _LAB_T
    fy = np.where(above, np.power(y, 1 / 3), 7.787 * y + 16 / 116)
    lum = np.where(above, 116 * fy - 16.0, 903.3 * y)
    a_bin = np.zeros(x.shape, dtype=np.intp)
    b_bin = np.zeros(x.shape, dtype=np.intp)
    for edge in (-55.0, 0.0, 55.0):
        a_bin += _f_above(x, dark_x, fy + edge / 500)
        b_bin += ~_f_above(z, dark_z, fy - edge / 200)
    return np.floor(lum / (101 / 4)).astype(np.intp) + 4 * a_bin + 16 * b_bin


def lab_hist_bins(images: np.ndarray, scaled: np.ndarray | bool = True) -> np.ndarray:
    """4x4x4 CIE-Lab bin of uint8 RGB pixels with Ruzon's ``RGB2Lab.m`` arithmetic.

    ``scaled`` (broadcast against the pixel grid) says whether ``RGB2Lab`` divided by 255,
    which it does only when some channel of its input exceeds 1; unscaled pixels (values 0/1)
    are read as [0, 1] intensities. Grey pixels sit on the a = 0 and b = 0 bin edges, where the
    bin depends on the rounding of ``MAT * RGB``; they use the FMA product (``_xyz_fma``).
    Every other colour has a and b at least 4e-7 and L/25.25 at least 1e-9 away from a bin edge
    (checked over all 2^24 colours), so any float64 evaluation gives its bin; ``_lab_bin_fast``
    is used for speed.
    """
    r, g, b = _planes(images)
    rf, gf, bf = _UNIT[r], _UNIT[g], _UNIT[b]
    bins = _lab_bin_fast(*[(m[0] * rf + m[1] * gf) + m[2] * bf for m in _XYZ])
    grey = (r == g) & (g == b)
    bins = np.where(grey, _GREY_LAB[r], bins)
    unit = np.minimum(r, 1) + 2 * np.minimum(g, 1) + 4 * np.minimum(b, 1)
    return np.where(scaled, bins, _UNIT_LAB[unit])


def colour_histograms(images: np.ndarray, stripes: int = 6, lab: bool = True) -> np.ndarray:
    """(n, H, W, 3) uint8 -> (n, stripes, 2 or 3, 64) kernel-weighted, L2-normalised stripe
    histograms (RGB, HS, then Lab), before the final square root."""
    n, height, width = images.shape[:3]
    rows = stripe_rows(height, stripes)
    kernel = centre_kernel(height, width)
    used = np.concatenate(rows)
    label = np.concatenate([np.full(len(r), s) for s, r in enumerate(rows)])
    part = images[:, used]
    codes = [rgb_hist_bins(part), hs_hist_bins(part)]
    if lab:
        peak = np.stack([images[:, r].reshape(n, -1).max(1) for r in rows], axis=1)
        scaled = (peak > 1)[:, label, None]
        codes.append(lab_hist_bins(part, scaled))
    kinds = len(codes)
    cell = (np.arange(n)[:, None] * stripes + label[None, :]) * kinds  # (n, rows)
    index = np.stack([(cell[..., None] + t) * COLOUR_BINS + c for t, c in enumerate(codes)],
                     axis=-1)
    weights = np.broadcast_to(kernel[used][None, :, :, None], index.shape)
    hist = np.bincount(index.ravel(), weights.ravel(),
                       minlength=n * stripes * kinds * COLOUR_BINS)
    hist = hist.reshape(n, stripes, kinds, COLOUR_BINS)
    norm = np.sqrt((hist * hist).sum(-1, keepdims=True))
    return hist / np.where(norm == 0, 1.0, norm)


def _part_sizes(height: int, width: int, stripes: int, lab: bool, hog: bool,
                lbp: bool) -> dict[str, int]:
    rows, cols = background_crop(height, width)
    crop_h = rows.stop - rows.start
    crop_w = cols.stop - cols.start
    sizes = {"colour": stripes * (3 if lab else 2) * COLOUR_BINS}
    if hog:
        sizes["hog"] = hog_dimension(crop_h, crop_w)
    if lbp:
        sizes["lbp"] = (crop_h // _LBP_CELL) * (crop_w // _LBP_CELL) * LBP_DIMENSION
    return sizes


def _check_size(height: int, width: int, stripes: int, lab: bool, hog: bool,
                lbp: bool) -> dict[str, int]:
    if not isinstance(stripes, int | np.integer) or stripes < 1:
        raise ValueError(f"stripes must be a positive integer, got {stripes!r}")
    if height < stripes or height // stripes < 1:
        raise ValueError(f"image height {height} is too small for {stripes} stripes")
    sizes = _part_sizes(height, width, stripes, lab, hog, lbp)
    empty = [name for name, size in sizes.items() if size == 0]
    if empty:
        rows, cols = background_crop(height, width)
        raise ValueError(
            f"a {height}x{width} image is too small for WHOS: its {rows.stop - rows.start}x"
            f"{cols.stop - cols.start} background crop yields no {' or '.join(empty)} "
            "(HOG needs a crop over 12 pixels each way, LBP at least 16)")
    return sizes


def whos_dimension(height: int, width: int, *, stripes: int = 6, lab: bool = True,
                   hog: bool = True, lbp: bool = True) -> int:
    """Length of the WHOS vector of a ``height`` x ``width`` image (see ``whos``)."""
    return sum(_check_size(int(height), int(width), stripes, lab, hog, lbp).values())


def whos(images: np.ndarray, *, stripes: int = 6, lab: bool = True, hog: bool = True,
         lbp: bool = True, workers: int | None = None) -> np.ndarray:
    """WHOS descriptors of an (n, h, w, 3) uint8 RGB batch -> (n, d) float64.

    Lisanti, Masi, Bagdanov, Del Bimbo, "Person re-identification by iterative re-weighted
    sparse ranking", TPAMI 2015, in the form papers citing it run it: Lisanti's code as shipped
    in the benchmark of Karanam et al. (TPAMI 2018, ``RSL-NEU/person-reid-benchmark``:
    ``ComputeFeatures.m`` case ``whos`` with the default 6x1 non-overlapping grid,
    ``PETA_cal_img_full_hist.m``, ``PETA_cal_color_histogram.m``, ``RGB2Lab.m``, ``p_lab.m``,
    ``HoG.cpp``, vlfeat's ``vl_lbp``). The vector is the element-wise square root of:

    1. per stripe (top to bottom): RGB 4x4x4, HS 8x8 and CIE-Lab 4x4x4 histograms, each pixel
       weighted by the centre-support kernel, each histogram L2-normalised;
    2. HOG (4 unsigned orientations, 8-pixel cells, 2x2-cell blocks, clip 0.25) and
    3. uniform LBP (58 patterns, 16-pixel cells) of the image with its background margins cut.

    Dimension: with ``crop_h = H - 2*round(H/16)`` and ``crop_w = W - 2*round(W/8) + 1``,
    ``stripes*192 + 16*(ceil(crop_h/8 - 1/2) - 1)*(ceil(crop_w/8 - 1/2) - 1)
    + 58*floor(crop_h/16)*floor(crop_w/16)``; 1152 + 832 + 812 = 2796 at 128x48.
    ``lab=False`` drops the Lab histograms (64 per stripe), ``hog``/``lbp=False`` their parts;
    ``lab=False, lbp=False`` is the TPAMI paper's HS+RGB+HOG variant (the code marks Lab and
    LBP as not in the paper). Chunks of 32 images run on ``workers`` threads (default: the CPUs
    this process may use); the result does not depend on it.

    Numerical choices of the original, reproduced on purpose:

    * stripes: patch height ``H/6`` is not rounded; ``GenerateGridBBox`` floors the tops of
      MATLAB's ``1:H/6:H-H/6+1`` and keeps ``floor(H/6)`` rows each, so at 128 rows stripes
      have 21 rows and rows 64 and 128 (1-based) are in no stripe (``stripe_rows``);
    * kernel: ``exp(-(x-W/2)^2/(W/4)^2 - (y-H/2)^2/(H/4)^2)`` in 1-based coordinates, peak half
      a pixel off centre and no 1/2 in the exponent (``centre_kernel``);
    * RGB bins ``floor(v/64)``; HS from MATLAB ``rgb2hsv`` (values divided by 255 first, ties
      resolved blue over green over red) binned by ``floor(v/(1.01/8))``, so the top bin is
      [0.88375, 1] and some exact hues such as 0.505 fall on a bin edge;
    * Lab from Ruzon's ``RGB2Lab.m`` (not skimage's ``rgb2lab``: BT.709 matrix, threshold
      0.008856, 7.787, 903.3), which divides by 255 only if some channel of the stripe exceeds
      1; L bins ``floor(L/25.25)``, a and b split at -55, 0, 55 with right-closed intervals;
    * background cut: ``bg_h = round(H*0.0625)``, ``bg_w = round(W*0.125)`` (halves up), rows
      ``bg_h+1 .. H-bg_h`` but columns ``bg_w .. W-bg_w`` (1-based): one more column on the
      left, 112x37 at 128x48;
    * HOG follows ``HoG.cpp`` (see ``features.hog_dalal``): colour gradients with zero padding
      at the crop border, strongest channel wins, float32 magnitudes, angles and norms, an
      extra ring of cells, and a zero-norm block repeating the previous block;
    * LBP follows ``vl_lbp`` (see ``features.lbp_vlfeat``) on ``single(rgb2gray(crop))``:
      MATLAB's rounded uint8 grey, strict ``>``, bilinear cells, per cell
      ``sqrt(h)/(sqrt(sum h)+1e-10)`` in single precision; with the final square root LBP
      enters as ``h^(1/4)`` up to scale.

    Where the original's result hangs on rounding it cannot be matched everywhere: grey pixels
    lie exactly on the a = 0 / b = 0 Lab bin edges, and which side ``MAT*RGB`` rounds to
    depends on the BLAS; this follows a fused multiply-add product (MKL on FMA hardware) and
    the C library's ``pow``, so the Lab bins do not depend on the CPU. HOG takes numpy's
    float32 ``arctan2`` and the kernel numpy's ``exp``, whose last bits depend on the SIMD
    kernels numpy picks for the CPU (1-ulp float32 effects in HOG). Elsewhere the result
    agrees with the original up to float64 summation order.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB, got dtype {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be an (n, h, w, 3) batch, got shape {images.shape}")
    n, height, width = images.shape[:3]
    sizes = _check_size(height, width, stripes, lab, hog, lbp)
    out = np.empty((n, sum(sizes.values())))
    rows, cols = background_crop(height, width)

    def run(start: int) -> None:
        batch = images[start : start + _CHUNK]
        parts = [colour_histograms(batch, stripes, lab).reshape(len(batch), -1)]
        crop = batch[:, rows, cols]
        if hog:
            parts.append(hog_whos(crop))
        if lbp:
            parts.append(vl_lbp(rgb2gray(crop), _LBP_CELL).astype(np.float64))
        out[start : start + len(batch)] = np.sqrt(np.concatenate(parts, axis=1))

    starts = range(0, n, _CHUNK)
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if workers > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(workers, len(starts))) as pool:
            list(pool.map(run, starts))
    else:
        for start in starts:
            run(start)
    return out

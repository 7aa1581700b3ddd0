"""Tests of the WHOS descriptor against hand-computed cases and loop references."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from matlab_reference import literal_hsv

from features.hog_dalal import cell_histograms, hog_whos
from features.lbp_vlfeat import lbp_patterns, vl_lbp
from features.whos_descriptor import (
    _XYZ,
    _lab_bin,
    _lab_bin_fast,
    centre_kernel,
    colour_histograms,
    hs_hist_bins,
    lab_hist_bins,
    rgb2gray,
    stripe_rows,
    whos,
    whos_dimension,
)

RNG = np.random.default_rng(7)


def _random(n: int, h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _matlab_round(x: float) -> int:
    return int(math.floor(x + 0.5))


def _expected_dimension(h: int, w: int) -> int:
    crop_h = h - 2 * _matlab_round(h / 16)
    crop_w = w - 2 * _matlab_round(w / 8) + 1
    hog = 16 * (math.ceil(crop_h / 8 - 0.5) - 1) * (math.ceil(crop_w / 8 - 0.5) - 1)
    return 6 * 192 + hog + 58 * (crop_h // 16) * (crop_w // 16)


# ----------------------------------------------------------------------------- dimension


def test_dimension_at_128x48_is_2796_with_documented_parts():
    assert whos_dimension(128, 48) == 2796
    assert whos_dimension(128, 48, hog=False, lbp=False) == 6 * 3 * 64
    assert whos_dimension(128, 48, lab=False, lbp=False) == 6 * 2 * 64 + 13 * 4 * 16
    assert whos_dimension(128, 48, hog=False, lab=False) == 6 * 2 * 64 + 7 * 2 * 58
    assert whos(_random(2, 128, 48)).shape == (2, 2796)


@pytest.mark.parametrize("h,w", [(64, 32), (100, 41), (126, 40), (160, 64), (96, 21)])
def test_dimension_formula_matches_output(h, w):
    assert whos_dimension(h, w) == _expected_dimension(h, w)
    assert whos(_random(3, h, w)).shape == (3, _expected_dimension(h, w))


def test_tpami_variant_is_the_rgb_hs_hog_subset():
    x = _random(3, 128, 48)
    full = whos(x)
    tpami = whos(x, lab=False, lbp=False)
    colour = full[:, :1152].reshape(3, 6, 3, 64)[:, :, :2].reshape(3, -1)
    assert np.array_equal(tpami, np.hstack([colour, full[:, 1152:1984]]))


def test_workers_do_not_change_the_result():
    x = _random(70, 128, 48)
    assert np.array_equal(whos(x, workers=1), whos(x, workers=3))


def test_output_is_finite_and_nonnegative():
    f = whos(np.concatenate([_random(2, 128, 48), np.zeros((1, 128, 48, 3), np.uint8)]))
    assert np.isfinite(f).all() and (f >= 0).all()


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "images",
    [
        np.zeros((2, 128, 48, 3), np.float64),
        np.zeros((2, 128, 48, 3), np.uint16),
        np.zeros((128, 48, 3), np.uint8),
        np.zeros((2, 128, 48), np.uint8),
        np.zeros((2, 128, 48, 4), np.uint8),
        np.zeros((2, 16, 16, 3), np.uint8),
        np.zeros((2, 128, 20, 3), np.uint8),
        np.zeros((2, 4, 48, 3), np.uint8),
    ],
)
def test_bad_input_raises_value_error(images):
    with pytest.raises(ValueError):
        whos(images)


def test_too_small_dimension_raises():
    with pytest.raises(ValueError, match="too small"):
        whos_dimension(17, 48)
    with pytest.raises(ValueError):
        whos_dimension(128, 48, stripes=0)


# ----------------------------------------------------------------------------- stripes, kernel


def test_stripes_at_128_rows_skip_rows_64_and_128():
    rows = stripe_rows(128)
    assert [(r[0], r[-1]) for r in rows] == [(0, 20), (21, 41), (42, 62), (64, 84), (85, 105),
                                             (106, 126)]
    x = _random(1, 128, 48)
    base = colour_histograms(x)
    y = x.copy()
    y[:, [63, 127]] = 255 - y[:, [63, 127]]
    assert np.array_equal(colour_histograms(y), base)
    y[:, 62] = 255 - y[:, 62]
    assert not np.array_equal(colour_histograms(y), base)


def test_stripe_tops_follow_matlab_colon_from_both_ends():
    # 1:28/6:28-28/6+1 has 6 elements; MATLAB computes the fourth back from the end point,
    # 28 - 28/6 + 1 - 2*(28/6), which rounds just below 15.
    assert 28 - 28 / 6 + 1 - 2 * (28 / 6) < 15 <= 1 + 3 * (28 / 6)
    assert [r[0] + 1 for r in stripe_rows(28)] == [1, 5, 10, 14, 19, 24]
    assert all(len(r) == 4 for r in stripe_rows(28))


@pytest.mark.parametrize("h,w", [(128, 48), (100, 41)])
def test_centre_kernel_values(h, w):
    k = centre_kernel(h, w)
    assert k.shape == (h, w)
    if h % 2 == 0 and w % 2 == 0:
        assert k[h // 2 - 1, w // 2 - 1] == 1.0  # 1-based (W/2, H/2)
    for y, x in [(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 3, w // 5)]:
        want = math.exp(-((x + 1 - w / 2) / (w / 4)) ** 2 - ((y + 1 - h / 2) / (h / 4)) ** 2)
        assert k[y, x] == pytest.approx(want, rel=1e-13)
    assert k.max() <= 1.0


# ----------------------------------------------------------------------------- colour


def _rgb2hsv_reference(r: int, g: int, b: int) -> tuple[float, float]:
    """MATLAB rgb2hsv hue and saturation of one pixel, in its own operation order."""
    return literal_hsv(r, g, b)[:2]


def _fma(a: float, b: float, c: float) -> float:
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def _lab_reference(rgb: tuple[int, int, int], scale: bool = True) -> int:
    """Ruzon's RGB2Lab + p_lab binning of one pixel, MAT*RGB as an FMA dot product."""
    m = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169),
         (0.019334, 0.119193, 0.950227))
    c = [v / 255 if scale else float(v) for v in rgb]
    x, y, z = (_fma(row[2], c[2], _fma(row[1], c[1], row[0] * c[0])) for row in m)
    x, z = x / 0.950456, z / 1.088754

    def f(t: float) -> float:
        return math.pow(t, 1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    lum = 116 * math.pow(y, 1 / 3) - 16.0 if y > 0.008856 else 903.3 * y
    a, bb = 500 * (f(x) - f(y)), 200 * (f(y) - f(z))

    def p_lab(v: float) -> int:
        assert -110 <= v <= 110
        return 0 if v <= -55 else 1 if v <= 0 else 2 if v <= 55 else 3

    return math.floor(lum / (101 / 4)) + 4 * p_lab(a) + 16 * p_lab(bb)


def test_uniform_image_histograms_are_one_hot_at_hand_computed_bins():
    x = np.zeros((1, 128, 48, 3), np.uint8)
    x[...] = (200, 30, 100)
    hist = colour_histograms(x)
    # RGB: (200//64, 30//64, 100//64) = (3, 0, 1); HS: hue 1 - 70/170/6 -> bin 7,
    # saturation 170/200 -> bin 6.
    want = [3 + 4 * 0 + 16 * 1, 7 + 8 * 6, _lab_reference((200, 30, 100))]
    for kind, b in enumerate(want):
        expected = np.zeros(64)
        expected[b] = 1.0
        assert np.allclose(hist[0, :, kind], expected, atol=1e-15)
    f = whos(x)[0, :1152].reshape(6, 3, 64)
    assert np.allclose([f[:, kind, b] for kind, b in enumerate(want)], 1.0)


def test_colour_histograms_have_unit_l2_norm_before_the_square_root():
    x = _random(4, 128, 48)
    f = whos(x)[:, :1152].reshape(4, 6, 3, 64)
    assert np.allclose(np.linalg.norm(f**2, axis=-1), 1.0, atol=1e-12)
    assert np.allclose(colour_histograms(x), f**2, atol=1e-12)


def test_histogram_weights_are_the_kernel():
    x = np.zeros((1, 128, 48, 3), np.uint8)
    x[0, :, 24:] = 255  # right half white: RGB bin 63
    hist = colour_histograms(x)
    k = centre_kernel(128, 48)
    rows = stripe_rows(128)[2]
    left, right = k[rows, :24].sum(), k[rows, 24:].sum()
    norm = math.hypot(left, right)
    assert hist[0, 2, 0, 0] == pytest.approx(left / norm, rel=1e-12)
    assert hist[0, 2, 0, 63] == pytest.approx(right / norm, rel=1e-12)


def test_hs_bins_follow_matlab_rgb2hsv():
    special = [(0, 97, 100), (100, 200, 100), (255, 255, 0), (200, 101, 200), (255, 0, 255),
               (7, 7, 7), (0, 0, 0), (255, 255, 255), (10, 0, 0), (200, 99, 99)]
    px = np.vstack([np.array(special, np.uint8), RNG.integers(0, 256, (3000, 3), np.uint8)])
    got = hs_hist_bins(px[None])[0]
    width = 1.01 / 8
    for p, b in zip(px, got, strict=True):
        h, s = _rgb2hsv_reference(*map(int, p))
        assert b == math.floor(h / width) + 8 * math.floor(s / width)
    # hue 0.505 = 4 * 1.01/8 exactly in rationals: the bin is whatever the float maths gives.
    assert _rgb2hsv_reference(0, 97, 100)[0] == pytest.approx(0.505, abs=1e-15)


def test_lab_bins_match_ruzon_reference_including_all_greys():
    grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    px = np.vstack([grey, RNG.integers(0, 256, (2000, 3), np.uint8),
                    np.array([[255, 0, 0], [0, 0, 255], [0, 255, 0]], np.uint8)])
    got = lab_hist_bins(px[None])[0]
    want = [_lab_reference(tuple(map(int, p))) for p in px]
    assert np.array_equal(got, want)


def test_fast_lab_bins_equal_the_three_cube_root_formula_off_the_grey_axis():
    rgb = RNG.integers(0, 256, (200_000, 3))
    rgb = rgb[(rgb[:, 0] != rgb[:, 1]) | (rgb[:, 1] != rgb[:, 2])] / 255
    xyz = [(m[0] * rgb[:, 0] + m[1] * rgb[:, 1]) + m[2] * rgb[:, 2] for m in _XYZ]
    assert np.array_equal(_lab_bin_fast(*xyz), _lab_bin(*xyz))


def test_lab_reads_a_stripe_of_zeros_and_ones_without_scaling():
    x = np.zeros((1, 128, 48, 3), np.uint8)
    x[0, :, :10] = 1
    hist = colour_histograms(x)
    white, black = _lab_reference((1, 1, 1), scale=False), _lab_reference((0, 0, 0))
    assert white != _lab_reference((1, 1, 1))
    assert hist[0, 0, 2, white] > 0 and hist[0, 0, 2, black] > 0
    x[0, 0, 0] = 2  # now stripe 1 is divided by 255: (1, 1, 1) is near black
    hist = colour_histograms(x)
    assert hist[0, 0, 2, white] == 0 and hist[0, 1, 2, white] > 0


def test_rgb2gray_matches_matlab_weights():
    px = RNG.integers(0, 256, (1, 50, 50, 3), np.uint8)
    want = np.floor(px @ np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
                    + 0.5)
    assert np.array_equal(rgb2gray(px), want)


# ----------------------------------------------------------------------------- HOG


def _hog_reference(img: np.ndarray) -> np.ndarray:
    """Per-pixel port of HoG.cpp for a colour image: bins 4, cell 8, block 2, clip 0.25."""
    pi = np.float32(3.1415926536)
    nb, cw, bsz, clip = 4, 8.0, 2, 0.25
    p = img.astype(np.float64)
    h, w = p.shape[:2]
    n1 = 2 + math.ceil(-0.5 + h / cw)
    n2 = 2 + math.ceil(-0.5 + w / cw)
    bin_size = float(pi / np.float32(nb))
    hist = np.zeros((n1, n2, nb))
    for y in range(h):
        for x in range(w):
            best = None
            for c in range(3):
                if x == 0:
                    dx = p[y, x + 1, c]
                elif x == w - 1:
                    dx = -p[y, x - 1, c]
                else:
                    dx = p[y, x + 1, c] - p[y, x - 1, c]
                if y == 0:
                    dy = -p[y + 1, x, c]
                elif y == h - 1:
                    dy = p[y - 1, x, c]
                else:
                    dy = -p[y + 1, x, c] + p[y - 1, x, c]
                dx, dy = np.float32(dx), np.float32(dy)
                mag = np.sqrt(dx * dx + dy * dy)
                if best is None or mag > best[0]:
                    best = (mag, np.arctan2(dy, dx))
            mag, ang = best
            if ang < 0:
                ang = ang + pi
            b1 = math.floor(0.5 + float(ang) / bin_size) - 1
            oc = np.float32((b1 + 1 + 1 - 1.5) * bin_size)
            wo = float(ang - oc) / bin_size
            x1, y1 = math.floor(0.5 + x / cw), math.floor(0.5 + y / cw)
            xc = np.float32((x1 + 1 - 1.5) * cw + 0.5)
            yc = np.float32((y1 + 1 - 1.5) * cw + 0.5)
            wx = float(np.float32(x + 1) - xc) / cw
            wy = float(np.float32(y + 1) - yc) / cw
            b2 = 0 if b1 + 1 == nb else b1 + 1
            b1 = nb - 1 if b1 < 0 else b1
            m = float(mag)
            for yy, fy in ((y1, 1 - wy), (y1 + 1, wy)):
                for xx, fx in ((x1, 1 - wx), (x1 + 1, wx)):
                    hist[yy, xx, b1] += m * fx * fy * (1 - wo)
                    hist[yy, xx, b2] += m * fx * fy * wo
    out = []
    block = np.zeros((bsz, bsz, nb))
    for bx in range(1, n2 - bsz):
        for by in range(1, n1 - bsz):
            norm = np.float32(0)
            for i in range(bsz):
                for j in range(bsz):
                    for k in range(nb):
                        norm = np.float32(float(norm) + hist[by + i, bx + j, k] ** 2)
            norm = np.sqrt(norm)
            if norm > 0:
                block = np.minimum(hist[by : by + bsz, bx : bx + bsz] / float(norm), clip)
            norm = np.float32(0)
            for v in block.ravel():
                norm = np.float32(float(norm) + v * v)
            norm = np.sqrt(norm)
            out.append(block.ravel() / float(norm) if norm > 0 else np.zeros(block.size))
    return np.concatenate(out)


def test_hog_matches_loop_reference():
    imgs = _random(2, 27, 21)
    imgs[0, 1] = 0  # top row: dy = -0.0, so a leftward gradient has angle -pi + pi = 0
    imgs[1, 14:] = 0  # black bottom: zero-norm blocks that repeat the previous block
    got = hog_whos(imgs)
    for img, g in zip(imgs, got, strict=True):
        want = _hog_reference(img)
        assert g.shape == want.shape
        assert np.allclose(g, want, rtol=1e-12, atol=1e-15)


def test_hog_zero_norm_block_repeats_previous_block():
    img = np.zeros((1, 40, 24, 3), np.uint8)
    img[0, 2:10, 4:20] = RNG.integers(0, 256, (8, 16, 3))
    out = hog_whos(img)[0].reshape(2, 4, 16)  # (block column, block row, values)
    # Gradients reach pixel row 10, whose votes go to cell rows 1 and 2 only: blocks 3 and 4
    # (cell rows 3-5) have zero norm and repeat block 2 of their column.
    assert (np.abs(out[:, :2]).sum(-1) > 0).all()
    assert not np.array_equal(out[:, 0], out[:, 1])
    for col in range(2):
        assert np.array_equal(out[col, 2], out[col, 1])
        assert np.array_equal(out[col, 3], out[col, 1])
    assert np.array_equal(hog_whos(np.zeros((1, 40, 24, 3), np.uint8)), np.zeros((1, 128)))


def test_hog_vertical_step_edge_votes_only_bins_0_and_3():
    img = np.zeros((1, 32, 32, 3), np.uint8)
    img[0, :, 16:] = 200
    img[0, :, :, 2] = 0  # one dark channel: red and green tie, red wins
    cells = cell_histograms(img)[0]
    interior = cells[1:-1, 1:-1]
    # Zero padding makes the image border an edge too; away from it a horizontal gradient
    # (angle 0) sits between the bins centred at pi/8 and 7*pi/8.
    col = interior[1:-1, 1]  # cells fed by the step at columns 15-16 only
    assert np.allclose(col[:, 1:3], 0.0)
    assert np.allclose(col[:, 0], col[:, 3]) and col[:, 0].min() > 0
    # The same step turned horizontal: its vertical gradient (angle pi/2) splits between the
    # bins centred at 3*pi/8 and 5*pi/8.
    horizontal = cell_histograms(np.transpose(img, (0, 2, 1, 3)))[0][2:4, 2:4]
    assert np.allclose(horizontal[..., [0, 3]], 0.0)
    assert np.allclose(horizontal[..., 1], horizontal[..., 2]) and horizontal[..., 1].min() > 0


# ----------------------------------------------------------------------------- LBP

_OFFSETS = {"E": (0, 1), "SE": (1, 1), "S": (1, 0), "SW": (1, -1), "W": (0, -1),
            "NW": (-1, -1), "N": (-1, 0), "NE": (-1, 1)}


def _patch(*brighter: str) -> np.ndarray:
    p = np.full((3, 3), 100, np.uint8)
    for name in brighter:
        dr, dc = _OFFSETS[name]
        p[1 + dr, 1 + dc] = 150
    return p


@pytest.mark.parametrize(
    "brighter,pattern",
    [((), 56), (tuple(_OFFSETS), 56), (("E",), 0), (("SE",), 7), (("S",), 14), (("E", "SE"), 1),
     (("N", "NE", "E"), 44), (("NE", "E", "SE", "S", "SW", "W", "NW"), 55), (("E", "W"), 57),
     (("W", "NW"), 29)],
)
def test_lbp_uniform_pattern_ids_of_hand_made_neighbourhoods(brighter, pattern):
    assert lbp_patterns(_patch(*brighter)[None])[0, 0, 0] == pattern


def test_lbp_equal_neighbours_are_not_brighter():
    p = _patch("E")
    p[1, 0] = 100  # W equal to the centre: still only E brighter
    assert lbp_patterns(p[None])[0, 0, 0] == 0


def test_lbp_constant_image_is_one_hot_at_pattern_56():
    out = vl_lbp(np.full((1, 48, 37, 1), 90, np.uint8)[..., 0], 16)
    cells = out.reshape(58, 2, 3)
    assert np.array_equal(cells[56], np.ones((2, 3), np.float32))
    assert not cells[:56].any() and not cells[57].any()


def _uniform_id(bits: list[int]) -> int:
    if sum(bits) in (0, 8):
        return 56
    changes = sum(bits[k] != bits[k - 1] for k in range(8))
    if changes != 2:
        return 57
    start = next(k for k in range(8) if bits[k] and not bits[k - 1])
    return 7 * start + sum(bits) - 1


def _lbp_reference(gray: np.ndarray, cell: int = 16) -> np.ndarray:
    """vl_lbp_process as a loop in image coordinates, vlfeat's documented pattern order."""
    g = gray.astype(np.float32)
    h, w = g.shape
    nr, nc = h // cell, w // cell
    hist = np.zeros((nr, nc, 58), np.float32)
    order = ["E", "SE", "S", "SW", "W", "NW", "N", "NE"]

    def split(v: int) -> tuple[int, np.float32]:
        t = (np.float32(v) + np.float32(0.5)) / np.float32(cell) - np.float32(0.5)
        lo = math.floor(t)
        return lo, t - np.float32(lo)

    for r in range(1, h - 1):
        r1, fr = split(r)
        if r1 >= nr:
            continue
        for c in range(1, w - 1):
            c1, fc = split(c)
            if c1 >= nc:
                continue
            bits = [int(g[r + _OFFSETS[o][0], c + _OFFSETS[o][1]] > g[r, c]) for o in order]
            k = _uniform_id(bits)
            for rr, wr in ((r1, 1 - fr), (r1 + 1, fr)):
                for cc, wc in ((c1, 1 - fc), (c1 + 1, fc)):
                    if 0 <= rr < nr and 0 <= cc < nc:
                        hist[rr, cc, k] += np.float32(wr * wc)
    norm = np.sqrt(hist.sum(-1, keepdims=True)) + np.float32(1e-10)
    return (np.sqrt(hist) / norm).transpose(2, 1, 0).ravel()


def test_lbp_matches_loop_reference():
    gray = RNG.integers(0, 256, (2, 50, 37), np.uint8)
    gray[1] //= 64  # many ties
    got = vl_lbp(gray, 16)
    for img, g in zip(gray, got, strict=True):
        assert np.array_equal(g, _lbp_reference(img))


def test_whos_lbp_part_is_double_square_root_of_vl_lbp_on_the_crop():
    x = _random(2, 128, 48)
    lbp = whos(x)[:, -812:]
    crop = x[:, 8:120, 5:42]
    assert np.allclose(lbp**2, vl_lbp(rgb2gray(crop), 16), rtol=1e-7)
    hog = whos(x)[:, 1152:1984]
    assert np.allclose(hog**2, hog_whos(crop), rtol=1e-12)

"""Tests for the LOMO descriptor against hand-worked cases and loop references."""

import math
from fractions import Fraction

import numpy as np
import pytest
from matlab_reference import literal_hsv

from features import local_maximal_occurrence as lmo
from features.local_maximal_occurrence import (
    hsv_indices,
    lomo,
    lomo_dimension,
    pool_gray,
    pool_indices,
    siltp,
    strip_max_histograms,
)
from features.matlab_colour import GRAY_WEIGHTS, rgb2gray, rgb2hsv
from features.multiscale_retinex import retinex

RNG = np.random.default_rng(2015)


def random_images(n: int, h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------- references


def literal_siltp(image: np.ndarray, tau: float, radius: int, num_points: int) -> np.ndarray:
    """SILTP with clamped (replicated) neighbours, one pixel at a time."""
    order = {
        4: [(0, 1), (-1, 0), (0, -1), (1, 0)],
        8: [(0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1)],
    }[num_points]
    h, w = image.shape
    out = np.zeros((h, w), int)
    for y in range(h):
        for x in range(w):
            centre = image[y, x]
            low, high = (1 - tau) * centre, (1 + tau) * centre
            for j, (dy, dx) in enumerate(order):
                yy = min(max(y + dy * radius, 0), h - 1)
                xx = min(max(x + dx * radius, 0), w - 1)
                out[y, x] += (int(image[yy, xx] < low) + 2 * int(image[yy, xx] > high)) * 3**j
    return out


def loop_strip_max(patterns: np.ndarray, bins: int, size: int, step: int) -> np.ndarray:
    """Max over the sub-windows of each strip of the sub-window histograms, by loops."""
    h, w = patterns.shape
    strips = []
    for top in range(0, h - size + 1, step):
        best = np.zeros(bins, int)
        for left in range(0, w - size + 1, step):
            window = patterns[top : top + size, left : left + size].ravel()
            best = np.maximum(best, np.bincount(window.astype(int), minlength=bins))
        strips.append(best)
    return np.concatenate(strips) if strips else np.zeros(0, int)


def loop_pool(image: np.ndarray, floor: bool) -> np.ndarray:
    """2x2 average of one (h, w) level, adding in MATLAB's storage order."""
    h, w = image.shape[0] // 2, image.shape[1] // 2
    out = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            total = image[2 * i, 2 * j] + image[2 * i + 1, 2 * j]
            total = total + image[2 * i, 2 * j + 1]
            total = total + image[2 * i + 1, 2 * j + 1]
            out[i, j] = math.floor(total / 4) if floor else total / 4
    return out


def unit(x: np.ndarray) -> np.ndarray:
    x = np.log(x + 1.0)
    return x / np.sqrt(np.sum(x * x))


def reference_lomo(image, size, step, scales, bins, radii, points, tau=0.3) -> np.ndarray:
    """LOMO.m for one image without Retinex, with loops over sub-windows and pixels."""
    hsv = rgb2hsv(image)
    levels = [np.minimum(np.floor(hsv[..., c] * bins[c]), bins[c] - 1) for c in range(3)]
    colour = []
    for s in range(scales):
        h, w = levels[0].shape
        if h < size or w < size:
            break
        pattern = levels[2] * bins[1] * bins[0] + levels[1] * bins[0] + levels[0]
        colour.append(loop_strip_max(pattern, int(np.prod(bins)), size, step))
        if s < scales - 1:
            levels = [loop_pool(level, floor=True) for level in levels]
    parts = [unit(np.concatenate(colour))]

    for radius in radii:
        gray = rgb2gray(image) / 255
        level_parts = []
        for s in range(scales):
            h, w = gray.shape
            if w < 2 * radius + 1:
                continue
            if h < size or w < size:
                break
            codes = literal_siltp(gray, tau, radius, points)
            level_parts.append(loop_strip_max(codes, 3**points, size, step))
            if s < scales - 1:
                gray = loop_pool(gray, floor=False)
        parts.append(unit(np.concatenate(level_parts)))
    return np.concatenate(parts)


# ---------------------------------------------------------------- dimensions


def test_default_dimension_is_26960() -> None:
    assert lomo_dimension(128, 48) == 26960
    assert lomo(random_images(2, 128, 48)).shape == (2, 26960)


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        # strips per level 11, 5 (16x8 has no 10x10 window): 16 * 512 + 2 * 16 * 81
        (64, 32, 10784),
        # strips per level 31, 15, 7: 53 * 512 + 2 * 53 * 81
        (160, 64, 35722),
        # 160x60 pools to 80x30 and 40x15: same strips as 160x64
        (160, 60, 35722),
    ],
)
def test_dimension_at_other_sizes(height: int, width: int, expected: int) -> None:
    assert lomo_dimension(height, width) == expected
    assert lomo(random_images(1, height, width), retinex=False).shape == (1, expected)


@pytest.mark.parametrize(
    "options",
    [
        {"num_scales": 4},
        {"R": 5, "num_points": 8},
        {"hsv_bins": (4, 3, 5), "block_size": 6, "block_step": 4},
        {"R": (2, 9), "num_scales": 2},
        {"R": (3, 30)},
    ],
)
def test_dimension_matches_output_with_options(options: dict) -> None:
    images = random_images(2, 70, 41)
    expected = lomo_dimension(70, 41, **options)
    assert lomo(images, retinex=False, **options).shape == (2, expected)


def test_narrow_level_is_skipped_for_large_radius() -> None:
    # Widths 48, 24, 12: radius 6 needs 13 columns, so its third level is skipped.
    strips = 24 + 11 + 5
    assert lomo_dimension(128, 48, R=6) == strips * 512 + (24 + 11) * 81


# ---------------------------------------------------------------- SILTP


def test_siltp_hand_worked_5x5() -> None:
    image = np.array(
        [
            [10, 10, 10, 10, 10],
            [10, 10, 30, 10, 10],
            [10, 5, 20, 15, 10],
            [10, 10, 10, 10, 10],
            [10, 10, 10, 10, 40],
        ],
        dtype=np.float64,
    )
    codes = siltp(image[None], tau=0.3, radius=1, num_points=4)[0]
    # Neighbour weights: right 1, up 3, left 9, down 27; below-range 1, above-range 2.
    assert codes[2, 2] == 0 * 1 + 2 * 3 + 1 * 9 + 1 * 27  # 20: 15 in range, 30 above, 5, 10 below
    assert codes[1, 2] == 1 + 3 + 9 + 27  # 30: every neighbour below 21
    assert codes[2, 1] == 2 + 6 + 18 + 54  # 5: every neighbour above 6.5
    assert codes[2, 3] == 1 + 3 + 2 * 9 + 27  # 15: 20 above 19.5, the rest below 10.5
    assert codes[4, 4] == 3 + 9  # corner 40: replicated right and down neighbours equal it
    assert codes[0, 0] == 0
    assert np.array_equal(codes, literal_siltp(image, 0.3, 1, 4))


@pytest.mark.parametrize(("radius", "points"), [(1, 8), (2, 4), (3, 8)])
def test_siltp_matches_literal_loop(radius: int, points: int) -> None:
    image = RNG.integers(0, 256, size=(9, 8)) / 255
    image[2:5, 2:5] = image[3, 3]  # flat patch: codes on exact equality
    codes = siltp(image[None], tau=0.3, radius=radius, num_points=points)[0]
    assert np.array_equal(codes, literal_siltp(image, 0.3, radius, points))
    assert codes.max() < 3**points


def test_siltp_rejects_small_images_like_siltp_m() -> None:
    with pytest.raises(ValueError, match="too small for SILTP radius 3"):
        siltp(np.ones((1, 6, 20)), radius=3)
    with pytest.raises(ValueError, match="num_points"):
        siltp(np.ones((1, 9, 9)), radius=1, num_points=6)


# ---------------------------------------------------------------- colour


def test_rgb2hsv_matches_matlab_statements() -> None:
    values = np.array([0, 1, 23, 28, 30, 33, 42, 127, 128, 254, 255])
    grid = np.stack(np.meshgrid(values, values, values, indexing="ij"), -1).reshape(-1, 3)
    pixels = np.concatenate([grid, RNG.integers(0, 256, size=(3000, 3))]).astype(np.uint8)
    got = rgb2hsv(pixels)
    expected = np.array([literal_hsv(*map(int, p)) for p in pixels])
    assert np.array_equal(got, expected)


def test_hue_on_bin_edges_follows_matlab_division() -> None:
    # Both hues are bin edges in exact arithmetic (1.5 / 6 = 2/8 and 3.75 / 6 = 5/8). With
    # MATLAB's x / 255 the first rounds just above its edge and the second just below;
    # x * (1/255), as scikit-image converts, gives the opposite bins (1 and 5).
    pixels = np.array([[[28, 33, 23], [30, 33, 42]]], np.uint8)
    hue = rgb2hsv(pixels)[0, :, 0]
    assert hue.tolist() == [literal_hsv(28, 33, 23)[0], literal_hsv(30, 33, 42)[0]]
    assert hue[0] >= 0.25 and hue[1] < 0.625
    assert hsv_indices(pixels)[0, 0].tolist() == [2, 4]


def test_hsv_indices_equal_quantised_rgb2hsv() -> None:
    a = np.arange(256, dtype=np.uint8)
    rgb = np.stack(np.meshgrid(a, a, a[::9], indexing="ij"), -1)
    hsv = rgb2hsv(rgb)
    expected = np.minimum(np.floor(hsv * 8), 7)
    assert np.array_equal(np.moveaxis(hsv_indices(rgb), 0, -1), expected)


def test_rgb2gray_rounds_like_matlab() -> None:
    pixels = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [1, 1, 1]], np.uint8)
    assert rgb2gray(pixels).tolist() == [76, 150, 29, 255, 1]
    sample = RNG.integers(0, 256, size=(2000, 3))
    weights = [Fraction(c) for c in GRAY_WEIGHTS]
    exact = [
        math.floor(sum(w * int(v) for w, v in zip(weights, p, strict=True)) + Fraction(1, 2))
        for p in sample
    ]
    assert rgb2gray(sample.astype(np.uint8)).tolist() == exact


def test_constant_image_fills_one_joint_bin() -> None:
    # 200, 120, 40: h = (80/160)/6 -> bin 0, s = 0.8 -> bin 6, v = 0.784 -> bin 6.
    image = np.empty((1, 128, 48, 3), np.uint8)
    image[...] = (200, 120, 40)
    assert hsv_indices(image[:, :1, :1])[:, 0, 0, 0].tolist() == [0, 6, 6]
    colour = lomo(image, retinex=False)[0, :20480].reshape(40, 512)
    expected = np.zeros((40, 512))
    expected[:, 6 * 64 + 6 * 8 + 0] = 1 / np.sqrt(40)
    np.testing.assert_allclose(colour, expected, rtol=1e-14, atol=0)


# ---------------------------------------------------------------- pyramid


def test_pool_indices_hand_case() -> None:
    level = np.array([[0, 1, 2, 3], [4, 5, 6, 7], [1, 1, 1, 1], [2, 2, 2, 3], [9, 9, 9, 9]])
    # Odd last row dropped; means 2.5, 4.5, 1.5, 1.75 floored.
    assert pool_indices(level[None])[0].tolist() == [[2, 4], [1, 1]]
    channels = np.stack([level, level + 1, 2 * level])[:, None]
    pooled = pool_indices(channels)
    assert pooled.shape == (3, 1, 2, 2)
    assert pooled[2, 0].tolist() == [[5, 9], [3, 3]]


def test_pool_gray_adds_in_matlab_order() -> None:
    tiny = 2.0**-53
    # Storage order top-left, bottom-left, top-right, bottom-right: (tiny + tiny) + 1 keeps
    # the tiny part, which (tiny + 1) + tiny in row order would round away.
    level = np.array([[[tiny, 1.0], [tiny, 0.0]]])
    assert pool_gray(level)[0, 0, 0] == (1 + 2 * tiny) / 4 != 0.25
    odd = RNG.random((1, 7, 5))
    assert np.array_equal(pool_gray(odd)[0], loop_pool(odd[0], floor=False))


# ---------------------------------------------------------------- histograms


@pytest.mark.parametrize(("size", "step"), [(10, 5), (4, 3), (3, 3)])
def test_strip_max_histograms_match_loops(size: int, step: int) -> None:
    patterns = RNG.integers(0, 7, size=(3, 23, 17))
    got = strip_max_histograms(patterns, 7, size, step)
    for image, row in zip(patterns, got, strict=True):
        assert np.array_equal(row, loop_strip_max(image, 7, size, step))


def test_parts_have_unit_norm() -> None:
    features = lomo(random_images(3, 128, 48))
    for start, stop in ((0, 20480), (20480, 23720), (23720, 26960)):
        np.testing.assert_allclose(np.linalg.norm(features[:, start:stop], axis=1), 1, rtol=1e-13)
    assert np.all(features >= 0)


# ---------------------------------------------------------------- end to end


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ((40, 24), {}),
        (
            (37, 29),
            {
                "block_size": 6,
                "block_step": 4,
                "hsv_bins": (4, 3, 5),
                "R": (2,),
                "num_points": 8,
            },
        ),
    ],
)
def test_lomo_matches_loop_reference(shape: tuple[int, int], options: dict) -> None:
    images = random_images(2, *shape)
    images[1, : shape[0] // 2] = images[1, 0, 0]
    got = lomo(images, retinex=False, **options)
    settings = {
        "size": options.get("block_size", 10),
        "step": options.get("block_step", 5),
        "scales": 3,
        "bins": options.get("hsv_bins", (8, 8, 8)),
        "radii": options.get("R", (3, 5)),
        "points": options.get("num_points", 4),
    }
    for image, row in zip(images, got, strict=True):
        np.testing.assert_allclose(row, reference_lomo(image, **settings), rtol=1e-13, atol=0)


def test_retinex_applies_to_colour_part_only() -> None:
    images = random_images(2, 64, 32)
    with_retinex = lomo(images)
    colour = lomo_dimension(64, 32) - 2 * 16 * 81
    np.testing.assert_array_equal(
        with_retinex[:, :colour], lomo(retinex(images), retinex=False)[:, :colour]
    )
    np.testing.assert_array_equal(with_retinex[:, colour:], lomo(images, retinex=False)[:, colour:])


def test_chunks_and_workers_do_not_change_result(monkeypatch: pytest.MonkeyPatch) -> None:
    images = random_images(5, 48, 24)
    whole = lomo(images, workers=1)
    monkeypatch.setattr(lmo, "_CHUNK_PIXELS", 2 * 48 * 24)
    monkeypatch.setattr(lmo, "_HISTOGRAM_ENTRIES", 1)
    assert np.array_equal(lomo(images, workers=2), whole)
    assert lomo(images[:0]).shape == (0, whole.shape[1])


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((1, 128, 48, 3), np.float32), "uint8"),
        (np.zeros((128, 48, 3), np.uint8), "shape"),
        (np.zeros((1, 128, 48), np.uint8), "shape"),
        (np.zeros((1, 128, 48, 4), np.uint8), "shape"),
        (np.zeros((1, 9, 48, 3), np.uint8), "too small"),
        (np.zeros((1, 128, 9, 3), np.uint8), "too small"),
        (np.zeros((1, 12, 60, 3), np.uint8), "SILTP radius 3"),
        (np.zeros((1, 28, 200, 3), np.uint8), "SILTP radius 5"),
    ],
)
def test_rejects_bad_images(images: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        lomo(images)


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"num_points": 6}, "num_points"),
        ({"R": (3, 0)}, "R"),
        ({"hsv_bins": (8, 8)}, "hsv_bins"),
        ({"block_size": 0}, "block_size"),
        ({"block_step": 2.5}, "block_step"),
        ({"tau": 0}, "tau"),
    ],
)
def test_rejects_bad_options(options: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        lomo_dimension(128, 48, **options)
    with pytest.raises(ValueError, match=name):
        lomo(random_images(1, 128, 48), **options)


def test_log_of_counts_is_the_c_library_log() -> None:
    # numpy's AVX-512 log differs from the C library's at 9170 and 19143.
    counts = np.array([[0, 1, 7, 99, 9169, 19142], [19142, 9169, 3, 0, 0, 0]])
    got = lmo._normalise([counts[:, :2], counts[:, 2:]], 2)
    for row, out in zip(counts, got, strict=True):
        logs = np.array([math.log(c + 1.0) for c in row])
        assert out.tolist() == (logs * (1 / np.sqrt(np.sum(logs * logs)))).tolist()

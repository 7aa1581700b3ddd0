"""Tests for the multi-scale Retinex against a scalar, loop-by-loop reference."""

import math

import numpy as np
import pytest

from features import multiscale_retinex as msr
from features.multiscale_retinex import gaussian_coefficients, recursive_gaussian, retinex


def literal_filter(signal: list[float], sigma: float) -> list[float]:
    """The recursive Gaussian exactly as the formulas read, one sample at a time."""
    big_b, b0, b1, b2, b3 = gaussian_coefficients(sigma)
    n = len(signal)
    w1 = [signal[0]] * 3 + [0.0] * n
    for k in range(3, n + 3):
        w1[k] = big_b * signal[k - 3] + (b1 * w1[k - 1] + b2 * w1[k - 2] + b3 * w1[k - 3]) / b0
    w2 = [0.0] * n + [w1[n + 2]] * 3
    for i in range(n - 1, -1, -1):
        w2[i] = big_b * w1[i] + (b1 * w2[i + 1] + b2 * w2[i + 2] + b3 * w2[i + 3]) / b0
    return w2[:n]


def literal_retinex(image: np.ndarray) -> np.ndarray:
    """Retinex of one (h, w, 3) uint8 image with Python scalars and loops only."""
    h, w, _ = image.shape
    px = image.tolist()
    intensity = [[[float(px[y][x][c]) + 10 for c in range(3)] for x in range(w)] for y in range(h)]
    ret = [[[0.0] * 3 for _ in range(w)] for _ in range(h)]
    for sigma in (5.0, 20.0):
        for c in range(3):
            rows = [literal_filter([intensity[y][x][c] for x in range(w)], sigma) for y in range(h)]
            cols = [literal_filter([rows[y][x] for y in range(h)], sigma) for x in range(w)]
            for y in range(h):
                for x in range(w):
                    ratio = intensity[y][x][c] / max(cols[x][y], 1e-6)
                    ret[y][x][c] += 0.5 * math.log(ratio + 1)

    ordered = sorted(v for row in ret for pix in row for v in pix)
    size = len(ordered)
    low, high = ordered[int(0.025 * size)], ordered[int(0.975 * size)]
    spread = (high - low) or 1.0

    restoration = [
        [[math.log(3 * p[c] / (p[0] + p[1] + p[2]) + 1) for c in range(3)] for p in row]
        for row in intensity
    ]
    total = 0.0
    for row in restoration:
        for pix in row:
            for v in pix:
                total += v
    mean = total / size

    out = np.empty((h, w, 3), np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                stretched = min(max(255 * (ret[y][x][c] - low) / spread - 10, 0.0), 255.0)
                restored = min(max(stretched * restoration[y][x][c] / mean, 0.0), 255.0)
                out[y, x, c] = int(max(restored, px[y][x][c]))
    return out


def test_coefficients_follow_young_van_vliet() -> None:
    for sigma in (5.0, 20.0):
        q = 0.98711 * sigma - 0.96330
        expected = (
            1.57825 + 2.44413 * q + 1.4281 * q**2 + 0.422205 * q**3,
            2.44413 * q + 2.85619 * q**2 + 1.26661 * q**3,
            -(1.4281 * q**2 + 1.26661 * q**3),
            0.422205 * q**3,
        )
        big_b, *b = gaussian_coefficients(sigma)
        np.testing.assert_allclose(b, expected, rtol=1e-14)
        assert big_b == pytest.approx(1 - (b[1] + b[2] + b[3]) / b[0], rel=1e-15)
        assert big_b + (b[1] + b[2] + b[3]) / b[0] == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 7, 48])
@pytest.mark.parametrize("sigma", [5.0, 20.0])
def test_recursive_gaussian_matches_literal_loop(length: int, sigma: float) -> None:
    rng = np.random.default_rng(length)
    signals = rng.uniform(10, 265, size=(length, 5))
    got = recursive_gaussian(signals, sigma)
    for j in range(signals.shape[1]):
        assert got[:, j].tolist() == literal_filter(signals[:, j].tolist(), sigma)


def test_recursive_gaussian_works_over_extra_axes() -> None:
    x = np.random.default_rng(1).uniform(0, 255, size=(9, 2, 3, 4))
    got = recursive_gaussian(x, 5.0)
    expected = recursive_gaussian(x.reshape(9, -1), 5.0).reshape(x.shape)
    assert np.array_equal(got, expected)


def test_backward_pass_shift_moves_impulse_by_three_samples() -> None:
    impulse = np.zeros((101, 1))
    impulse[50] = 1.0
    response = recursive_gaussian(impulse, 5.0)[:, 0]
    assert int(np.argmax(response)) == 53
    assert response.sum() == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(response[53 - 20 : 53], response[54 : 54 + 20][::-1], atol=2e-3)


@pytest.mark.parametrize("columns", [1, 2, 5])
def test_in_order_sum_adds_sequentially(columns: int) -> None:
    column = np.array([1e16, 1.0, 1.0, -1e16] * 3 + [0.5] * 600)
    values = np.ascontiguousarray(np.repeat(column[:, None], columns, axis=1))
    sequential = 0.0
    for v in column:
        sequential += v
    assert sequential == 300.0 != math.fsum(column)
    assert msr.in_order_sum(values).tolist() == [sequential] * columns


def test_order_statistics_positions() -> None:
    rng = np.random.default_rng(3)
    for size in (12, 40, 120, 18432):
        values = rng.permutation(size).astype(np.float64)[:, None] * 0.5
        low, high = msr._order_statistics(values)
        assert low[0] == 0.5 * int(0.025 * size)
        assert high[0] == 0.5 * int(0.975 * size)
    assert (int(0.025 * 12), int(0.975 * 12)) == (0, 11)


def test_stretch_matches_formula() -> None:
    rng = np.random.default_rng(4)
    values = rng.normal(1.4, 0.3, size=(6, 5, 3, 2))
    values[..., 1] = 0.7
    ordered = [sorted(values[..., j].ravel().tolist()) for j in range(2)]
    got = msr._stretch(values.copy())
    for j in range(2):
        low, high = ordered[j][int(0.025 * 90)], ordered[j][int(0.975 * 90)]
        spread = (high - low) or 1.0
        expected = [
            min(max(255 * (v - low) / spread - 10, 0.0), 255.0) for v in values[..., j].ravel()
        ]
        assert got[..., j].ravel().tolist() == expected
    assert np.all(got[..., 1] == 0)


def test_colour_restoration_and_its_mean() -> None:
    pixels = np.random.default_rng(6).integers(0, 256, size=(30, 20, 3, 2), dtype=np.uint8)
    restoration, mean = msr._colour_restoration(pixels)
    for j in range(2):
        total = 0.0
        for y in range(30):
            for x in range(20):
                i = [float(v) + 10 for v in pixels[y, x, :, j]]
                for c in range(3):
                    value = math.log(3 * i[c] / (i[0] + i[1] + i[2]) + 1)
                    assert restoration[y, x, c, j] == value
                    total += value
        assert mean[j] == total / 1800


def test_restore_multiplies_before_dividing() -> None:
    rng = np.random.default_rng(9)
    stretched = rng.uniform(0, 255, size=(50, 2))
    restoration = rng.uniform(0.1, 1.4, size=(50, 2))
    mean = restoration.mean(axis=0)
    got = msr._restore(stretched.copy(), restoration, mean)
    for j in range(2):
        expected = [
            min(max(s * c / mean[j], 0.0), 255.0)
            for s, c in zip(stretched[:, j], restoration[:, j], strict=True)
        ]
        assert got[:, j].tolist() == expected


def test_matches_literal_reference_on_random_images() -> None:
    rng = np.random.default_rng(7)
    images = rng.integers(0, 256, size=(3, 9, 7, 3), dtype=np.uint8)
    images[1, :4] = rng.integers(0, 6, size=(4, 7, 3))
    images[2] = images[2] // 64 * 85
    got = retinex(images)
    for image, out in zip(images, got, strict=True):
        assert np.array_equal(out, literal_retinex(image))


def test_matches_literal_reference_on_non_square_image() -> None:
    image = np.random.default_rng(8).integers(0, 256, size=(1, 4, 11, 3), dtype=np.uint8)
    assert np.array_equal(retinex(image)[0], literal_retinex(image[0]))


@pytest.mark.parametrize("value", [1, 100])
def test_constant_image_matches_reference(value: int) -> None:
    image = np.full((1, 8, 6, 3), value, np.uint8)
    out = retinex(image)
    assert np.array_equal(out[0], literal_retinex(image[0]))


def test_constant_image_with_exact_surround_is_unchanged() -> None:
    # For this value both surrounds of an 8x6 image come out exactly constant, so R is
    # constant, hi - lo = 0 is taken as 1, the stretch clips -10 to 0 and the floor at
    # the input returns the image itself. (Other values leave rounding noise in the
    # surround, which the stretch amplifies; the literal reference covers those.)
    image = np.full((1, 8, 6, 3), 54, np.uint8)
    intensity_wh = np.full((6, 8, 3, 1), 64.0)
    for sigma in msr.SIGMAS:
        assert np.all(msr._surround(intensity_wh, sigma) == 64.0)
    assert np.array_equal(retinex(image), image)


def test_output_is_floored_at_input_and_truncated() -> None:
    rng = np.random.default_rng(11)
    images = rng.integers(0, 256, size=(4, 16, 10, 3), dtype=np.uint8)
    out = retinex(images)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.all(out >= images)

    pixels = np.ascontiguousarray(images.transpose(1, 2, 3, 0))
    intensity = pixels + msr.OFFSET
    restored = msr._restore(
        msr._stretch(msr._log_ratio_sum(intensity)), *msr._colour_restoration(pixels)
    )
    assert np.any(restored < pixels) and np.any(restored > pixels)
    expected = np.trunc(np.maximum(restored, pixels)).astype(np.uint8)
    assert np.array_equal(out, expected.transpose(3, 0, 1, 2))
    bright = np.full((1, 6, 5, 3), 255, np.uint8)
    assert np.array_equal(retinex(bright), bright)


def test_chunks_and_workers_do_not_change_result(monkeypatch: pytest.MonkeyPatch) -> None:
    images = np.random.default_rng(5).integers(0, 256, size=(7, 12, 8, 3), dtype=np.uint8)
    whole = retinex(images, workers=1)
    monkeypatch.setattr(msr, "_CHUNK_PIXELS", 2 * 12 * 8)
    assert np.array_equal(retinex(images, workers=2), whole)
    assert np.array_equal(retinex(images[3:4])[0], whole[3])


def test_log_ratio_sum_takes_the_c_library_log() -> None:
    """Bit-identity with the compiled Retinex needs the C library's log, whatever the CPU."""
    rng = np.random.default_rng(2)
    intensity = rng.integers(0, 256, size=(30, 20, 3, 2)).astype(np.float64) + msr.OFFSET
    intensity_wh = np.ascontiguousarray(intensity.transpose(1, 0, 2, 3))
    surrounds = [msr._surround(intensity_wh, sigma) for sigma in msr.SIGMAS]
    expected = [
        0.0 + 0.5 * math.log(i / max(s5, 1e-6) + 1) + 0.5 * math.log(i / max(s20, 1e-6) + 1)
        for i, s5, s20 in zip(intensity.ravel(), *(s.ravel() for s in surrounds), strict=True)
    ]
    assert msr._log_ratio_sum(intensity).ravel().tolist() == expected


def test_restoration_table_is_the_c_library_log_of_every_entry() -> None:
    table = msr._restoration_table()
    expected = [
        math.log(3 * (c + 10.0) / (t + 30.0) + 1) for c in range(256) for t in range(766)
    ]
    assert table.tolist() == expected


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((1, 4, 4, 3), np.float64), "uint8"),
        (np.zeros((4, 4, 3), np.uint8), "shape"),
        (np.zeros((1, 4, 4, 4), np.uint8), "shape"),
        (np.zeros((1, 0, 4, 3), np.uint8), "1x1"),
    ],
)
def test_rejects_bad_input(images: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        retinex(images)

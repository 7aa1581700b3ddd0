"""Eigen-depth on the genuine BIWI frame: invariants, small hand cases, and the original.

The genuine frame (``../shared/datasets/biwi_sample/``) is from BIWI RGBD-ID, CC BY-NC-SA
3.0 (Munaro et al., Person Re-Identification, Springer 2014), used as a test fixture only.

``ORIGINAL`` holds numbers of the authors' MATLAB code (``wuancong/depth_reid`` at its
published snapshot, ``utils/``) on that frame, produced under GNU Octave 7.3 (statistics
1.5.3, image 2.14.0) by ``tests/octave/eigen_depth_reference.m`` with the brute-force
``knnsearch`` of ``tests/octave/`` (Octave has none). With ``octave`` on the PATH and
``DEPTH_REID_UTILS`` naming that checkout's ``utils/`` folder, the last test recomputes
every array and compares all of them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from benchmark.datasets.biwi_raw import read_depth, read_pgm
from features import eigen_depth, estimate_normals, person_point_cloud, segment_torso
from features.eigen_depth_descriptor import eigen_depth_dimension, nearest_neighbours

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SAMPLE = SHARED / "biwi_sample" / "Training" / "000"
PREFIX = "000_000000-{}"

# From the original code under Octave (see the module docstring); 17 significant digits.
ORIGINAL = {
    "points": 22630,
    "torso_points": 7529,
    "within_one_patch": [0.030211834102387, 0.075135419716617, 0.09773421442124439,
                         7.254611308941334, 9.019279665855978, 10.620553190335169],
    "within_first_patch": [0.01304733494420764, 0.09171849628158808, 0.12426521152067455,
                           4.348990580497391, 6.205233354867439, 7.099243767887402],
    "between_first_pair": [0.02898181381647629, 0.19038242301150382, 0.2465523376126407,
                           6.298605849546783, 7.359632620965119, 9.888863471132892],
    "sum_within_2x6": 658.6886956173197,
    "sum_between_2x6": 1327.547614779223,
    "sum_within_3x4": 685.493877392069,
    "sum_between_3x4": 1465.4738117269303,
    # SHA-256 of the (n, 3) float64 arrays' little-endian C-order bytes: bit for bit.
    "points_sha256": "0adec040c0b396454a55ccb1f4c0ed02e00c3c5429a1ce9688b9b20ccb129afc",
    "torso_sha256": "b4dcb2d2a44236bde57b397173e1825b5a1d5da5b9b238a2d342faafe1597cca",
}


def _sha256(points: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(points, dtype="<f8").tobytes()).hexdigest()


def _file(kind: str) -> str:
    return str(next(SAMPLE.glob(PREFIX.format(f"*_{kind}"))))


@pytest.fixture(scope="module")
def frame():
    if not SAMPLE.is_dir():
        pytest.skip(f"the genuine BIWI frame is not at {SAMPLE} (CI has it at ../shared)")
    depth = read_depth(_file("depth.pgm"))
    mask = read_pgm(_file("userMap.pgm"))
    skeleton = np.loadtxt(_file("skel.txt"), delimiter=",")
    points = person_point_cloud(depth, mask)
    torso = segment_torso(points, skeleton)
    return {"depth": depth, "mask": mask, "skeleton": skeleton, "points": points,
            "torso": torso, "normals": estimate_normals(torso)}


def _brute_median5(image: np.ndarray) -> np.ndarray:
    """5x5 median with zero padding, by sorting every window."""
    padded = np.pad(image, 2)
    windows = sliding_window_view(padded, (5, 5)).reshape(*image.shape, 25)
    return np.sort(windows, axis=-1)[..., 12]


def test_point_count_is_the_filtered_masked_depths_non_zero_pixels(frame):
    masked = frame["depth"].astype(np.float64) * (frame["mask"] > 0)
    assert len(frame["points"]) == np.count_nonzero(_brute_median5(masked))


def test_points_lie_on_their_pixels_rays(frame):
    # x / z' and y / z' use the unsmoothed z; back-projecting the row-major non-zero
    # pixels with BIWI's intrinsics gives x and y exactly.
    masked = frame["depth"].astype(np.float64) * (frame["mask"] > 0)
    filtered = _brute_median5(masked)
    v, u = np.nonzero(filtered)
    z = filtered[v, u]
    np.testing.assert_allclose(frame["points"][:, 0], (u - 319.5) * z / 575.8, rtol=1e-12)
    np.testing.assert_allclose(frame["points"][:, 1], (v - 239.5) * z / 575.8, rtol=1e-12)


def test_normals_are_unit_and_face_the_camera(frame):
    normals = frame["normals"]
    assert normals.shape == frame["torso"].shape
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)
    assert (normals[:, 2] >= 0).all()


def test_torso_lies_between_shoulders_and_above_hips(frame):
    joints = frame["skeleton"][:20, 1:4] * 1000
    torso = frame["torso"]
    assert 0 < len(torso) < len(frame["points"])
    assert joints[4, 0] <= torso[:, 0].min() and torso[:, 0].max() <= joints[8, 0]
    assert torso[:, 1].max() <= -(joints[12, 1] + joints[16, 1]) / 2


def test_feature_lengths(frame):
    within, between = eigen_depth(frame["torso"], frame["normals"])
    assert within.shape == (6 * 11 * 3,) == (198,) and between.shape == (312,)
    within, between = eigen_depth(frame["torso"], frame["normals"], n_col=3, n_row=4)
    assert within.shape == (6 * 7 * 5,) and between.shape == (6 * 58,)
    assert eigen_depth_dimension(3, 4) == 6 * (35 + 58) and eigen_depth_dimension() == 510


def _from_corner(points: np.ndarray) -> np.ndarray:
    """Points moved so that min x = min y = 0: then the one patch's upper bounds,
    min + (max - min), are the maxima exactly and no point falls out of it (with another
    minimum the original's bound can round below the maximum)."""
    return points - np.array([points[:, 0].min(), points[:, 1].min(), 0.0])


def test_one_patch_is_rotation_invariant(frame):
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    points, normals = _from_corner(frame["torso"]), frame["normals"]
    within, between = eigen_depth(points, normals, n_col=1, n_row=1)
    turned, _ = eigen_depth(_from_corner(points @ rotation.T), normals @ rotation.T,
                            n_col=1, n_row=1)
    assert between.shape == (0,)
    # Rotating (point, normal) together is the 6x6 orthogonal map diag(R, R).
    np.testing.assert_allclose(turned, within, rtol=1e-9, atol=1e-9)


def test_one_patch_is_the_log_eigenvalues_of_the_covariance(frame):
    points = _from_corner(frame["torso"])
    values = np.column_stack([points, frame["normals"]])
    expected = np.log1p(np.sort(np.linalg.eigvals(np.cov(values.T)).real))
    within, _ = eigen_depth(points, frame["normals"], n_col=1, n_row=1)
    np.testing.assert_allclose(within, expected, rtol=1e-9)


def test_matches_the_original_code(frame):
    within, between = eigen_depth(frame["torso"], frame["normals"])
    within34, between34 = eigen_depth(frame["torso"], frame["normals"], n_col=3, n_row=4)
    one, _ = eigen_depth(frame["torso"], frame["normals"], n_col=1, n_row=1)
    assert len(frame["points"]) == ORIGINAL["points"]
    assert len(frame["torso"]) == ORIGINAL["torso_points"]
    assert _sha256(frame["points"]) == ORIGINAL["points_sha256"]
    assert _sha256(frame["torso"]) == ORIGINAL["torso_sha256"]
    rtol = 1e-9
    np.testing.assert_allclose(one, ORIGINAL["within_one_patch"], rtol=rtol)
    np.testing.assert_allclose(within[:6], ORIGINAL["within_first_patch"], rtol=rtol)
    np.testing.assert_allclose(between[:6], ORIGINAL["between_first_pair"], rtol=rtol)
    for name, value in (("sum_within_2x6", within), ("sum_between_2x6", between),
                        ("sum_within_3x4", within34), ("sum_between_3x4", between34)):
        np.testing.assert_allclose(value.sum(), ORIGINAL[name], rtol=rtol)


def test_one_point_patch_fills_its_covariance_with_the_variance():
    # MATLAB's cov of one row is the variance of its 6 values: c * ones(6, 6) has the
    # eigenvalues 0 (5 times) and 6c.
    points = np.array([[0.0, 0.0, 1000.0], [10.0, 10.0, 1000.0], [10.0, 0.0, 1000.0]])
    normals = np.tile([0.0, 0.0, 1.0], (3, 1))
    within, _ = eigen_depth(points, normals, n_col=1, n_row=2)
    # Rows of patches: y in [0, 5] holds points 0 and 2, [2.5, 7.5] none, [5, 10] point 1.
    c = np.var([10.0, 10.0, 1000.0, 0.0, 0.0, 1.0], ddof=1)
    np.testing.assert_allclose(within[12:], np.log1p([0, 0, 0, 0, 0, 6 * c]), atol=1e-9)
    np.testing.assert_array_equal(within[6:12], np.zeros(6))


def test_neighbour_ties_go_to_the_lower_index():
    grid = np.stack(np.meshgrid(np.arange(7.0), np.arange(6.0), indexing="ij"), -1)
    points = np.random.default_rng(1).permutation(grid.reshape(-1, 2))
    squared = ((points[:, None, :] - points[None]) ** 2).sum(-1)
    expected = np.argsort(squared, axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(nearest_neighbours(points, 10), expected)


@pytest.mark.skipif(shutil.which("octave") is None or "DEPTH_REID_UTILS" not in os.environ,
                    reason="needs octave and DEPTH_REID_UTILS (the original's utils/ folder)")
def test_every_array_matches_the_original_under_octave(frame, tmp_path):
    from scipy.io import loadmat

    script = Path(__file__).parent / "octave"
    out = tmp_path / "reference.mat"
    files = ", ".join(f"'{_file(kind)}'" for kind in ("depth.pgm", "userMap.pgm", "skel.txt"))
    subprocess.run(["octave", "--no-gui", "-q", "--eval",
                    f"addpath('{script}'); eigen_depth_reference("
                    f"'{os.environ['DEPTH_REID_UTILS']}', {files}, '{out}')"],
                   check=True, capture_output=True)
    ref = loadmat(out)
    np.testing.assert_array_equal(frame["points"], ref["pc"])
    np.testing.assert_array_equal(frame["torso"], ref["torso"])
    np.testing.assert_allclose(frame["normals"], ref["normals"], atol=1e-12)
    within, between = eigen_depth(frame["torso"], frame["normals"])
    np.testing.assert_allclose(within, ref["ew"].ravel(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(between, ref["eb"].ravel(), rtol=1e-9, atol=1e-12)


def test_raw_biwi_crop_carries_what_eigen_depth_needs(frame):
    from benchmark.datasets.biwi_raw import CropSettings, RawFrame, crop_frame

    raw = RawFrame(0, 0, 0, rgb=_file("rgb.jpg"), depth=_file("depth.pgm"),
                   usermap=_file("userMap.pgm"), skel=_file("skel.txt"))
    crop = crop_frame(raw, CropSettings((256, 128), 2000, 0.05, False))
    np.testing.assert_array_equal(crop.joints, frame["skeleton"][:20, 1:4])  # slot 1 tracked
    points = person_point_cloud(crop.depth, crop.mask, tuple(crop.intrinsics))
    # The crop's intrinsics put its person where the full frame's is: the same median
    # point to within the resampling (a crop pixel spans about 1.3 frame pixels, ~7 mm).
    np.testing.assert_allclose(np.median(points, axis=0), np.median(frame["points"], axis=0),
                               atol=15)
    torso = segment_torso(points, frame["skeleton"])
    assert 0.5 < len(torso) / len(points) / (len(frame["torso"]) / len(frame["points"])) < 2

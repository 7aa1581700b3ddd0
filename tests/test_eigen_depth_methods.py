"""The Eigen-depth rows: LSSCDL against its original, CCA, HOG/SLTP, inputs, the matchers.

``LSSCDL_ORIGINAL`` holds numbers of ``LSSCDL.m`` (``RSL-NEU/person-reid-benchmark``,
``MetricLearning/SSSVM_REID/functions/``) under GNU Octave 7.3 on the fixed inputs of
``tests/octave/lsscdl_reference.m``; with ``octave`` on the PATH and
``SSSVM_REID_FUNCTIONS`` naming that folder, the last test recomputes and compares every
matrix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmark.datasets.synthetic import SyntheticOptions, generate
from features import eigen_depth, hog_siltp, lomo, person_point_cloud, segment_torso
from features.eigen_depth_inputs import eigen_depth_of_crop, mask_from_depth, proportional_skeleton
from methods.core.context import TaskContext
from methods.core.errors import DatasetError
from methods.core.frames import PairedFrames
from methods.core.registry import get_method
from methods.handcrafted.cca import fit_cca
from methods.handcrafted.lsscdl import LsscdlParameters, code, lsscdl

# From the original under Octave (see the module docstring), 17 significant digits.
LSSCDL_ORIGINAL = {
    "objective_converged": 0.2532411755704501,
    "objective_3_iterations": 0.2942316259526411,
    "Mx_converged_row0": [0.6592898203006609, 0.4134945907720392, -0.02367073344661889,
                          -0.2054143772903556, 0.04725886685547628, 0.44358834318729157],
    "Dx_3_iterations_row0": [0.8662918581095423, 0.5190482264406655, 0.4076412159144786,
                             0.3269061405253704, 0.02214911266509377, 0.15100806734597433],
}


def _fill(rows: int, cols: int, offset: int) -> np.ndarray:
    """The driver's inputs: entry i (column-major, from 1) is mod((i + offset) 37, 101) / 101."""
    i = np.arange(1, rows * cols + 1)
    return (((i + offset) * 37) % 101 / 101).reshape(cols, rows).T


def _lsscdl_inputs() -> dict[str, np.ndarray]:
    return {"X": _fill(5, 7, 0), "W": _fill(4, 7, 11), "Dx": _fill(5, 6, 23),
            "Dw": _fill(4, 6, 31), "Alphax": _fill(6, 7, 43), "Alphaw": _fill(6, 7, 59),
            "Mx": np.eye(6), "Mw": np.eye(6)}


def test_lsscdl_matches_the_original():
    converged = lsscdl(**_lsscdl_inputs())
    three = lsscdl(**_lsscdl_inputs(), par=LsscdlParameters(n_iter=3, epsilon=0.0))
    assert three.iterations == 3 and 3 < converged.iterations < 100
    rtol = 1e-12
    np.testing.assert_allclose(converged.objective, LSSCDL_ORIGINAL["objective_converged"],
                               rtol=rtol)
    np.testing.assert_allclose(three.objective, LSSCDL_ORIGINAL["objective_3_iterations"],
                               rtol=rtol)
    np.testing.assert_allclose(converged.Mx[0], LSSCDL_ORIGINAL["Mx_converged_row0"],
                               rtol=1e-11)
    np.testing.assert_allclose(three.Dx[0], LSSCDL_ORIGINAL["Dx_3_iterations_row0"],
                               rtol=1e-11)


@pytest.mark.parametrize("epsilon", [0.5, 0.1, 0.05])
def test_lsscdl_stops_at_the_first_small_relative_change(epsilon):
    objectives = [0.0] + [lsscdl(**_lsscdl_inputs(), par=LsscdlParameters(n_iter=t, epsilon=0))
                          .objective for t in range(1, 8)]
    change = [abs(objectives[t - 1] - objectives[t]) / objectives[t] for t in range(1, 8)]
    expected = 1 + next(t for t, c in enumerate(change) if c < epsilon)
    assert lsscdl(**_lsscdl_inputs(), par=LsscdlParameters(epsilon=epsilon)).iterations \
        == expected


def test_coding_is_ridge_regression_on_the_dictionary():
    rng = np.random.default_rng(0)
    dictionary, sample = rng.normal(size=(9, 4)), rng.normal(size=(9, 1))
    alpha = code(dictionary, sample, 0.01)
    # The gradient of |x - D a|^2 + 0.01 |a|^2 vanishes at the code.
    np.testing.assert_allclose(dictionary.T @ (dictionary @ alpha - sample) + 0.01 * alpha, 0,
                               atol=1e-12)


def test_cca_finds_a_shared_signal():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(400, 1))
    x = np.hstack([shared, rng.normal(size=(400, 5))]) @ rng.normal(size=(6, 6))
    y = np.hstack([-2 * shared, rng.normal(size=(400, 3))]) @ rng.normal(size=(4, 4))
    model = fit_cca(x, y, ridge=1e-6)
    assert model.correlations[0] == pytest.approx(1.0, abs=1e-4)  # the ridge shrinks it
    assert model.correlations[1] < 0.3
    u, v = model.transform_x(x, 1), model.transform_y(y, 1)
    assert abs(np.corrcoef(u[:, 0], v[:, 0])[0, 1]) == pytest.approx(1.0, abs=1e-9)


def test_hog_siltp_halves_are_whos_hog_and_lomo_siltp():
    images = np.random.default_rng(0).integers(0, 256, (2, 128, 48, 3), dtype=np.uint8)
    features = hog_siltp(images)
    assert features.shape == (2, 1200 + 6480)
    np.testing.assert_allclose(np.linalg.norm(features[:, :1200], axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(features[:, 1200:], axis=1), 1.0)
    siltp = lomo(images, retinex=False)[:, -6480:]  # LOMO: colour part, then SILTP parts
    np.testing.assert_allclose(features[:, 1200:], siltp / np.linalg.norm(siltp, axis=1,
                                                                           keepdims=True))


def test_empty_torso_gives_zeros():
    within, between = eigen_depth(np.zeros((0, 3)), np.zeros((0, 3)))
    np.testing.assert_array_equal(within, np.zeros(198))
    np.testing.assert_array_equal(between, np.zeros(312))


def test_mask_from_depth_keeps_the_central_person():
    depth = np.full((30, 12), 5000, np.uint16)
    depth[5:25, 3:9] = 2000
    depth[0, 0] = 0
    np.testing.assert_array_equal(mask_from_depth(depth), depth == 2000)


def test_proportional_skeleton_cuts_the_top_of_the_body():
    v, u = np.mgrid[0:100, 0:40]
    points = np.column_stack([u.ravel() * 10.0, v.ravel() * 10.0, np.full(v.size, 3000.0)])
    torso = segment_torso(points, proportional_skeleton(points))
    height = 990.0
    assert torso[:, 1].max() <= height * (1 - 0.530) + 1e-9
    assert torso[:, 1].max() > height * (1 - 0.530) - 10
    assert np.ptp(torso[:, 0]) <= 0.259 * height


@pytest.fixture(scope="module")
def synthetic():
    return generate(SyntheticOptions(identities=4, frames_per_identity=4), (128, 64))


def test_synthetic_frames_carry_geometry_that_places_the_torso(synthetic):
    assert synthetic.masks.shape == synthetic.depth.shape and synthetic.masks.dtype == np.uint8
    n = len(synthetic)
    assert synthetic.skeletons.shape == (n, 20, 3) and synthetic.intrinsics.shape == (n, 4)
    for i in range(len(synthetic)):
        points = person_point_cloud(synthetic.depth[i], synthetic.masks[i],
                                    tuple(synthetic.intrinsics[i]))
        joints = synthetic.skeletons[i] * [1000, -1000, 1000]  # mm, y down
        # The hips lie inside the person's cloud, and the head joint above the hips.
        assert points[:, 1].min() < joints[3, 1] < joints[0, 1] < points[:, 1].max()
        assert points[:, 0].min() < joints[0, 0] < points[:, 0].max()
        # The pinhole model puts the person at the skeleton's distance.
        assert abs(np.median(points[:, 2]) - joints[0, 2]) < 300


def test_crop_without_mask_or_skeleton_uses_the_stand_ins(synthetic):
    described = eigen_depth_of_crop(synthetic.depth[0], synthetic.intrinsics[0], None, None)
    assert described.shape == (510,) and np.isfinite(described).all() and described.any()


def _context(tmp_path: Path) -> TaskContext:
    return TaskContext(artifact_root=tmp_path, dataset_key="synthetic-test", seed=0, quiet=True)


@pytest.mark.parametrize("name", ["eigen-depth-euclidean", "eigen-depth-cca",
                                  "eigen-depth-lsscdl"])
def test_matchers_embed_frames(name, tmp_path, synthetic):
    matcher = get_method(name).from_offered(_context(tmp_path), cca_dims=[2, 4],
                                            cca_ridges=[0.1], pca_dim=8, lsscdl_dim=4)
    train, val = synthetic.select(np.arange(8)), synthetic.select(np.arange(8, 12))
    matcher.fit(train, val)
    test = synthetic.select(np.arange(12, 16))
    for modality in dict.fromkeys(m for setting in matcher.settings for m in setting):
        embedded = matcher.embed_frames(test, modality)
        assert len(embedded) == 4 and np.isfinite(embedded).all()
    if name != "eigen-depth-euclidean":
        rgb, depth = matcher.embed_frames(test, "rgb"), matcher.embed_frames(test, "depth")
        assert rgb.shape[1] == depth.shape[1]


def test_depth_without_intrinsics_or_in_8_bit_is_an_error(tmp_path, synthetic):
    matcher = get_method("eigen-depth-euclidean")(_context(tmp_path))
    bare = PairedFrames(synthetic.pids, synthetic.sequences, synthetic.frames, synthetic.rgb,
                        synthetic.depth)
    with pytest.raises(DatasetError, match="intrinsics"):
        matcher.embed_frames(bare, "depth")
    grey = PairedFrames(synthetic.pids, synthetic.sequences, synthetic.frames, synthetic.rgb,
                        (synthetic.depth // 40).astype(np.uint16), intrinsics=synthetic.intrinsics)
    with pytest.raises(DatasetError, match="millimetres"):
        matcher.embed_frames(grey, "depth")
    with pytest.raises(DatasetError, match="embed whole frames"):
        matcher.embed(synthetic.depth, "depth")


@pytest.mark.skipif(shutil.which("octave") is None or "SSSVM_REID_FUNCTIONS" not in os.environ,
                    reason="needs octave and SSSVM_REID_FUNCTIONS (the original's functions/)")
def test_lsscdl_every_matrix_matches_the_original_under_octave(tmp_path):
    from scipy.io import loadmat

    out = tmp_path / "lsscdl.mat"
    script = Path(__file__).parent / "octave"
    subprocess.run(["octave", "--no-gui", "-q", "--eval",
                    f"addpath('{script}'); lsscdl_reference("
                    f"'{os.environ['SSSVM_REID_FUNCTIONS']}', '{out}')"],
                   check=True, capture_output=True)
    ref = loadmat(out)
    for suffix, par in (("1", LsscdlParameters()),
                        ("3", LsscdlParameters(n_iter=3, epsilon=0.0))):
        model = lsscdl(**_lsscdl_inputs(), par=par)
        for ours, theirs in (("Alphax", "Ax"), ("Alphaw", "Aw"), ("Dx", "Dx"), ("Dw", "Dw"),
                             ("Mx", "Mx"), ("Mw", "Mw")):
            np.testing.assert_allclose(getattr(model, ours), ref[theirs + suffix], rtol=1e-10,
                                       atol=1e-12)


def test_the_crop_cache_keeps_the_geometry(tmp_path):
    from benchmark.datasets.base import get_dataset, load_frames

    dataset = get_dataset("synthetic", identities=2, frames_per_identity=2,
                          second_outfit_fraction=0.0)
    built = dataset.build((32, 16))
    cached = load_frames(dataset, (32, 16), tmp_path)  # written, then read back
    for field in ("masks", "skeletons", "intrinsics"):
        np.testing.assert_array_equal(getattr(cached, field), getattr(built, field))
    subset = cached.of_identities([1])
    assert len(subset.masks) == len(subset.skeletons) == len(subset.intrinsics) == 2


def test_packed_frames_unpack_to_their_parts(synthetic):
    from methods.handcrafted.eigen_depth import pack_depth_frames, unpack_depth_frame

    odd = synthetic.select(np.arange(3))
    odd = PairedFrames(odd.pids, odd.sequences, odd.frames, odd.rgb[:, :-1, :-1],
                       odd.depth[:, :-1, :-1], skeletons=odd.skeletons,
                       intrinsics=odd.intrinsics)  # 127 x 63: no mask, unaligned offsets
    for frames in (synthetic.select(np.arange(3)), odd):
        packed = pack_depth_frames(frames)
        for i, row in enumerate(packed):
            depth, mask, joints, intrinsics = unpack_depth_frame(row, frames.depth.shape[1:])
            np.testing.assert_array_equal(depth, frames.depth[i])
            if frames.masks is None:
                assert mask is None
            else:
                np.testing.assert_array_equal(mask, frames.masks[i])
            np.testing.assert_array_equal(joints, frames.skeletons[i])
            np.testing.assert_array_equal(intrinsics, frames.intrinsics[i])


def test_validation_rank1_leaves_each_twin_out():
    from methods.handcrafted.cca import cross_modal_rank1

    rgb, depth = np.array([[0.0], [2.0], [20.0]]), np.array([[0.5], [2.5], [21.0]])
    # Without its twin, identity 1's only frame has no true match in either direction.
    assert cross_modal_rank1(rgb, depth, np.array([0, 0, 1])) == pytest.approx(4 / 6)

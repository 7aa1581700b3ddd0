"""KISSME plugin: a hand-computed case, a brute-force reference, its imports, and its
pairs with the suite's features on the smoke profile."""

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import rgbd_kissme

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile
from methods.core.errors import ConfigError
from methods.core.registry import get_method
from methods.handcrafted.pairs import register_pairs

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

PLUGIN = Path(rgbd_kissme.__file__)


def test_one_dimension_by_hand():
    # view a: 0 (id 0), 2 (id 1); view b: 1 (id 0), 5 (id 1). Similar differences -1, -3:
    # Sigma_S = (1 + 9) / 2 = 5; dissimilar 0 - 5, 2 - 1: Sigma_D = (25 + 1) / 2 = 13.
    # M = 1/5 - 1/13 = 8/65; PCA centres on 2 and may flip the sign, which squares away.
    metric = rgbd_kissme.Kissme().fit([[0.0], [2.0]], [[1.0], [5.0]], [0, 1], [0, 1])
    np.testing.assert_allclose(metric.M_, [[8 / 65]])
    q, g = metric.transform([[0.0]], "a"), metric.transform([[5.0], [1.0]], "b")
    np.testing.assert_allclose(metric.distance(q, g), [[8 / 65 * 25, 8 / 65 * 1]])


def brute_force_kissme(a, b, ya, yb):
    """KISSME from explicit pairs in the original coordinates, clipped as validateCovMatrix."""
    sim, dis = [], []
    for i in range(len(a)):
        for j in range(len(b)):
            (sim if ya[i] == yb[j] else dis).append(np.outer(a[i] - b[j], a[i] - b[j]))
    M = np.linalg.inv(np.mean(sim, 0)) - np.linalg.inv(np.mean(dis, 0))
    values, vectors = np.linalg.eigh((M + M.T) / 2)
    if values.min() < 0:
        values[values <= 1e-10] = 1e-6
    return vectors @ np.diag(values) @ vectors.T, values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_explicit_pairs(seed):
    rng = np.random.default_rng(seed)
    ya, yb = np.repeat(np.arange(4), 3), np.repeat(np.arange(4), 2)
    a = rng.normal(size=(4, 3))[ya] + 0.3 * rng.normal(size=(12, 3))
    b = rng.normal(size=(4, 3))[yb] + 0.3 * rng.normal(size=(8, 3))
    metric = rgbd_kissme.Kissme().fit(a, b, ya, yb)  # 34 > 3 dimensions: a rotation
    M, values = brute_force_kissme(a, b, ya, yb)
    brute = np.array([[(q - g) @ M @ (q - g) for g in a] for q in b])
    got = metric.distance(metric.transform(b, "b"), metric.transform(a, "a"))
    np.testing.assert_allclose(got, brute, rtol=1e-8, atol=1e-10)
    assert np.linalg.eigvalsh(metric.M_).min() > 0


def test_psd_projection_keeps_a_psd_matrix_and_clips_the_rest():
    psd = np.array([[2.0, 1.0], [1.0, 2.0]])
    np.testing.assert_array_equal(rgbd_kissme.psd_projection(psd), psd)
    rotation = np.array([[0.6, -0.8], [0.8, 0.6]])
    indefinite = rotation @ np.diag([3.0, -2.0]) @ rotation.T
    clipped = rgbd_kissme.psd_projection(indefinite)
    np.testing.assert_allclose(clipped, rotation @ np.diag([3.0, 1e-6]) @ rotation.T)


def test_before_fit_and_bad_input_are_errors():
    with pytest.raises(ValueError, match="not fitted"):
        rgbd_kissme.Kissme().transform(np.ones((2, 3)), "a")
    with pytest.raises(ValueError, match="dissimilar"):
        rgbd_kissme.Kissme().fit(np.ones((2, 3)), np.zeros((2, 3)), [0, 0], [0, 0])
    with pytest.raises(ConfigError, match="kissme_dim"):
        rgbd_kissme.KissmeOptions(kissme_dim=0)


def test_plugin_imports_only_the_public_api_and_declares_its_entry_point():
    project = set()
    for node in ast.walk(ast.parse(PLUGIN.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            project.add(node.module)
        elif isinstance(node, ast.Import):
            project |= {a.name for a in node.names}
    assert project == {"__future__", "dataclasses", "numpy", "methods.api"}
    assert sum(1 for line in PLUGIN.read_text().splitlines() if line.strip()) <= 100
    pyproject = tomllib.loads((PLUGIN.parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["rgbd_bench.metrics"] == {
        "kissme": "rgbd_kissme"}


def test_pairs_with_the_suites_features_and_runs_on_smoke(tmp_path):
    register_pairs()  # the plugin was imported here, not found through its entry point
    for name in ("whos-kissme", "lomo-kissme", "pixels-kissme"):
        assert get_method(name).metric_class is rgbd_kissme.Kissme
    with pytest.raises(ConfigError, match="eigen-depth-kissme"):
        get_method("eigen-depth-kissme")  # HOG/SLTP and Eigen-depth share no space
    fields = {f.name for f in dataclasses.fields(get_method("whos-kissme").Options)}
    assert fields == {"feature_size", "depth_encoding", "kissme_dim",
                      "max_frames_per_identity"}
    profile = load_profile("smoke", ['run.methods=["whos-kissme"]', "run.folds=1"])
    records = run_profile(plan_run(profile), Paths(tmp_path / "out", tmp_path / "cache"),
                          quiet=True)
    assert [r["method"] for r in records] == ["whos-kissme"]
    assert records[0]["config"]["options"]["max_frames_per_identity"] == 4  # the group's

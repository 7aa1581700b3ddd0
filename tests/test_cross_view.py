"""The cross-view metric interface on every built-in metric: shapes, views, a reference
or an invariant each, and how training rows are drawn."""

import numpy as np
import pytest

from features.hog_siltp import unit_rows
from methods.handcrafted.cca import Cca, CcaOptions
from methods.handcrafted.cross_view import (
    CrossViewMetric,
    Euclidean,
    NotFittedError,
    PairedViews,
    available_metrics,
)
from methods.handcrafted.lsscdl import Lsscdl, LsscdlOptions, LsscdlParameters, code
from methods.handcrafted.xqda import XQDA, Xqda, XqdaOptions


def two_views(n_ids=6, per_id=5, d_a=12, d_b=12, seed=0):
    """Row-paired views: row i of both is one time step of identity y[i], each view a
    different linear image of the identity's signal plus the time step's own."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_ids), per_id)
    signal = rng.normal(size=(n_ids, 4))[y] + 0.2 * rng.normal(size=(len(y), 4))
    a = signal @ rng.normal(size=(4, d_a)) + 0.05 * rng.normal(size=(len(y), d_a))
    b = signal @ rng.normal(size=(4, d_b)) + 0.05 * rng.normal(size=(len(y), d_b))
    return a, b, y


SMALL = {
    Euclidean: None,
    Xqda: XqdaOptions(),
    Cca: CcaOptions(pca_dim=8, cca_dims=(2, 4), cca_ridges=(0.01, 0.1)),
    Lsscdl: LsscdlOptions(lsscdl_dim=6),
}


def fitted(metric_class, d_b=12):
    a, b, y = two_views(d_b=d_b)
    val_a, val_b, val_y = two_views(n_ids=3, per_id=3, d_b=d_b, seed=1)
    metric = metric_class(SMALL[metric_class], seed=0)
    return metric.fit(a, b, y, y, PairedViews(val_a, val_b, val_y)), (a, b, y)


def test_the_built_in_metrics_are_registered():
    assert {"euclidean": Euclidean, "xqda": Xqda, "cca": Cca,
            "lsscdl": Lsscdl}.items() <= available_metrics().items()


@pytest.mark.parametrize("metric_class", list(SMALL))
def test_fit_returns_self_and_views_land_in_one_space(metric_class):
    metric, (a, b, y) = fitted(metric_class, d_b=12 if not metric_class.links_spaces else 9)
    assert isinstance(metric, metric_class)
    qa, gb = metric.transform(a[:7], "a"), metric.transform(b, "b")
    assert qa.ndim == gb.ndim == 2 and qa.shape[1] == gb.shape[1]
    assert len(qa) == 7 and len(gb) == len(b)
    distances = metric.distance(qa, gb)
    assert distances.shape == (7, len(b)) and np.isfinite(distances).all()
    if metric.learns:  # the views are different maps of the identity: learned, found
        ranked = metric.distance(metric.transform(a, "a"), gb)
        assert np.mean(y[ranked.argmin(1)] == y) > 0.8
    with pytest.raises(ValueError, match="view"):
        metric.transform(a, "c")


@pytest.mark.parametrize("metric_class", [Xqda, Cca, Lsscdl])
def test_a_learned_metric_before_fit_is_an_error(metric_class):
    with pytest.raises(NotFittedError, match="not fitted"):
        metric_class(SMALL[metric_class]).transform(np.ones((2, 12)), "a")


def test_euclidean_keeps_features_and_measures_straight_lines():
    a, b, _ = two_views()
    metric = Euclidean()
    assert not metric.learns and metric.transform(a, "a") is a
    brute = np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))
    np.testing.assert_allclose(metric.distance(a, b), brute, atol=1e-12)


def test_xqda_distance_is_the_quadratic_form_of_its_kernel():
    metric, (a, b, y) = fitted(Xqda)
    q, g = metric.transform(b[:4], "b"), metric.transform(a, "a")
    M = metric.model_.M_
    brute = np.array([[(qi - gj) @ M @ (qi - gj) for gj in g] for qi in q])
    np.testing.assert_allclose(metric.distance(q, g), brute, rtol=1e-9, atol=1e-9)
    # the estimator on raw features, with RGB (view a) as its gallery view
    direct = XQDA(lam=0.001).fit(a, b, y, y)
    np.testing.assert_allclose(metric.distance(q, g), direct.distance(b[:4], a), rtol=1e-9)


def test_cca_keeps_the_grid_point_best_on_validation():
    metric, (a, b, _) = fitted(Cca, d_b=9)
    scores = [s["val_rank1"] for s in metric.selection_]
    best = metric.selection_[int(np.argmax(scores))]  # the first of equal scores
    assert metric.dim_ == best["dim"] and len(scores) == 4
    np.testing.assert_allclose(np.linalg.norm(metric.transform(a, "a"), axis=1), 1.0)
    # the learned projection of training view a is the canonical one for the chosen ridge
    reduced = metric.reduce_["a"](a)
    expected = unit_rows(metric.model_.transform_x(reduced, metric.dim_))
    np.testing.assert_allclose(metric.transform(a, "a"), expected)


def test_lsscdl_distance_is_its_two_coupling_terms():
    metric, (a, b, _) = fitted(Lsscdl, d_b=9)
    m, lc = metric.model_, LsscdlParameters().lambdac
    alpha_x = code(m.Dx, unit_rows(metric.reduce_["a"](a[:3])).T, lc)
    alpha_w = code(m.Dw, unit_rows(metric.reduce_["b"](b[:4])).T, lc)
    coupling = np.array([[np.sum((alpha_x[:, i] - m.Mw @ alpha_w[:, j]) ** 2)
                          + np.sum((m.Mx @ alpha_x[:, i] - alpha_w[:, j]) ** 2)
                          for j in range(4)] for i in range(3)])
    got = metric.distance(metric.transform(a[:3], "a"), metric.transform(b[:4], "b"))
    np.testing.assert_allclose(got ** 2, coupling, rtol=1e-9)


@pytest.mark.parametrize("metric_class", [Cca, Lsscdl])
def test_paired_metrics_refuse_unpaired_views(metric_class):
    a, b, y = two_views()
    with pytest.raises(ValueError, match="paired"):
        metric_class(SMALL[metric_class]).fit(a, b[:-1], y, y[:-1], PairedViews(a, b, y))


def test_training_rows_are_capped_per_view_or_shared_when_paired():
    pids = np.repeat(np.arange(5), 9)
    a, b = Xqda(XqdaOptions(max_frames_per_identity=3)).training_rows(
        pids, np.random.default_rng(0))
    assert np.all(np.bincount(pids[a]) == 3) and np.all(np.bincount(pids[b]) == 3)
    assert not np.array_equal(a, b)  # two independent draws
    a, b = Cca(CcaOptions(max_frames_per_identity=2)).training_rows(
        pids, np.random.default_rng(0))
    assert a is b and np.all(np.bincount(pids[a]) == 2)
    again, _ = Cca(CcaOptions(max_frames_per_identity=2)).training_rows(
        pids, np.random.default_rng(0))
    np.testing.assert_array_equal(again, a)


def test_a_metric_is_one_small_class():
    class Cosine(CrossViewMetric):
        learns = False

        def transform(self, X, view):
            return unit_rows(X)

        def distance(self, Q, G):
            return 1 - Q @ G.T

    a, b, _ = two_views()
    metric = Cosine().fit(a, b, None, None)
    d = metric.distance(metric.transform(a, "a"), metric.transform(b, "b"))
    cos = (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(d, 1 - cos, atol=1e-12)

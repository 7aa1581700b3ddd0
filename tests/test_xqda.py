"""XQDA against a direct implementation of its formulas, QR equivalence, dims and errors."""

import numpy as np
import pytest

from methods.handcrafted.xqda import XQDA, NotFittedError, mahalanobis_distance


def make_views(n_classes=5, per_view=3, d=6, seed=0):
    """Two views of ``n_classes`` labelled clusters; the probe view is shifted and skewed."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d)) * 2.0
    y = np.repeat(np.arange(n_classes), per_view)
    xg = centres[y] + rng.normal(size=(len(y), d))
    xp = centres[y] @ (np.eye(d) + 0.2 * rng.normal(size=(d, d))) + rng.normal(size=(len(y), d))
    return xg, xp, y, y.copy()


def reference_xqda(xg, xp, yg, yp, lam=0.001, dims=None):
    """XQDA straight from the definitions: every cross-view pair, loops, no QR.

    The directions are the left singular vectors of inv(Sigma_I) Sigma_E, ranked by its
    singular values, as the original code computes them.
    """
    d = xg.shape[1]
    in_cov, ex_cov = np.zeros((d, d)), np.zeros((d, d))
    n_in = n_ex = 0
    for i in range(len(xg)):
        for j in range(len(xp)):
            diff = xg[i] - xp[j]
            if yg[i] == yp[j]:
                in_cov += np.outer(diff, diff)
                n_in += 1
            else:
                ex_cov += np.outer(diff, diff)
                n_ex += 1
    in_cov = in_cov / n_in + lam * np.eye(d)
    ex_cov = ex_cov / n_ex
    u, s, _ = np.linalg.svd(np.linalg.inv(in_cov) @ ex_cov)
    r = int(np.sum(s > 1))
    k = max(1, r) if dims is None else max(1, min(dims, r))
    w = u[:, :k]
    m = np.linalg.inv(w.T @ in_cov @ w) - np.linalg.inv(w.T @ ex_cov @ w)
    return w, m, s


def reference_distance(w, m, xq, xg):
    out = np.empty((len(xq), len(xg)))
    for i in range(len(xq)):
        for j in range(len(xg)):
            diff = (xq[i] - xg[j]) @ w
            out[i, j] = diff @ m @ diff
    return out


def assert_close(actual, expected, rtol=1e-8):
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


def assert_same_columns_up_to_sign(a, b):
    signs = np.sign(np.sum(a * b, axis=0))
    assert_close(a * signs, b)


@pytest.mark.parametrize("n_classes, per_view, d", [(5, 3, 6), (8, 4, 10)])
def test_matches_direct_implementation(n_classes, per_view, d):
    xg, xp, yg, yp = make_views(n_classes, per_view, d)
    model = XQDA().fit(xg, xp, yg, yp)
    w, m, s = reference_xqda(xg, xp, yg, yp)

    assert_close(model.eigenvalues_, s)
    assert model.W_.shape == w.shape
    assert_same_columns_up_to_sign(model.W_, w)
    queries, gallery, _, _ = make_views(n_classes, per_view, d, seed=1)
    assert_close(model.distance(queries, gallery), reference_distance(w, m, queries, gallery))


def test_unbalanced_views_and_labels_in_one_view_only():
    xg, xp, yg, yp = make_views(6, 4, 7)
    keep_g = np.array([0, 1, 2, 4, 5, 8, 12, 13, 14, 15, 20, 21, 22, 23])
    keep_p = np.array([0, 3, 4, 6, 7, 9, 10, 11, 16, 17, 18])
    xg, yg, xp, yp = xg[keep_g], yg[keep_g], xp[keep_p], yp[keep_p]
    assert set(yg) != set(yp)
    model = XQDA(lam=0.01).fit(xg, xp, yg, yp)
    w, m, _ = reference_xqda(xg, xp, yg, yp, lam=0.01)
    assert_close(model.distance(xp, xg), reference_distance(w, m, xp, xg))
    assert model.n_intra_ == sum(int(np.sum(yp == label)) for label in yg)
    assert model.n_intra_ + model.n_extra_ == len(xg) * len(xp)


def test_qr_path_equals_direct_path_in_high_dimension():
    xg, xp, yg, yp = make_views(4, 3, 40)
    auto = XQDA().fit(xg, xp, yg, yp)
    forced_off = XQDA(qr=False).fit(xg, xp, yg, yp)
    assert len(auto.eigenvalues_) == len(xg) + len(xp)
    assert len(forced_off.eigenvalues_) == 40
    assert auto.n_components_ == forced_off.n_components_
    assert_same_columns_up_to_sign(auto.W_, forced_off.W_)
    queries = np.random.default_rng(5).normal(size=(7, 40))
    expected = reference_distance(*reference_xqda(xg, xp, yg, yp)[:2], queries, xg)
    assert_close(auto.distance(queries, xg), expected, rtol=1e-7)
    assert_close(forced_off.distance(queries, xg), expected, rtol=1e-7)


def test_forced_qr_in_low_dimension_changes_nothing():
    xg, xp, yg, yp = make_views(5, 3, 6)
    plain, forced = XQDA().fit(xg, xp, yg, yp), XQDA(qr=True).fit(xg, xp, yg, yp)
    assert_close(forced.eigenvalues_, plain.eigenvalues_)
    assert_close(forced.distance(xp, xg), plain.distance(xp, xg))


def test_automatic_dims_count_values_above_one():
    xg, xp, yg, yp = make_views(8, 4, 10)
    model = XQDA().fit(xg, xp, yg, yp)
    r = int(np.sum(model.eigenvalues_ > 1))
    assert 1 < r < 10
    assert model.n_components_ == r
    assert model.W_.shape == (10, r) and model.M_.shape == (r, r)
    assert np.all(np.diff(model.eigenvalues_) <= 0)


def test_explicit_dims_are_kept_and_capped_at_the_automatic_count():
    xg, xp, yg, yp = make_views(8, 4, 10)
    r = XQDA().fit(xg, xp, yg, yp).n_components_
    two = XQDA(dims=2).fit(xg, xp, yg, yp)
    assert two.W_.shape == (10, 2)
    w, m, _ = reference_xqda(xg, xp, yg, yp, dims=2)
    assert_close(two.distance(xp, xg), reference_distance(w, m, xp, xg))
    assert XQDA(dims=r + 3).fit(xg, xp, yg, yp).n_components_ == r


def test_one_dimension_when_no_value_exceeds_one():
    xg, xp, yg, yp = make_views(5, 3, 6)
    model = XQDA(lam=1e6).fit(xg, xp, yg, yp)
    assert np.all(model.eigenvalues_ <= 1)
    assert model.n_components_ == 1
    assert XQDA(lam=1e6, dims=4).fit(xg, xp, yg, yp).n_components_ == 1


def test_distance_orientation_and_symmetry():
    xg, xp, yg, yp = make_views(5, 3, 6)
    model = XQDA().fit(xg, xp, yg, yp)
    d = model.distance(xp[:4], xg)
    assert d.shape == (4, len(xg))
    assert_close(model.distance(xg, xp[:4]), d.T, rtol=1e-10)
    pq, pg = model.transform(xp[:4]), model.transform(xg)
    assert_close(mahalanobis_distance(model.M_, pq, pg), d, rtol=1e-12)
    # The right identity is nearest for most training probes.
    assert np.mean(yg[np.argmin(model.distance(xp, xg), axis=1)] == yp) > 0.8


def test_init_stores_parameters_and_does_no_work():
    model = XQDA(lam=-1, dims="many")
    assert model.get_params() == {"lam": -1, "dims": "many", "qr": None}
    assert not hasattr(model, "W_")
    assert XQDA().set_params(dims=3).dims == 3
    with pytest.raises(ValueError, match="unknown parameter"):
        XQDA().set_params(alpha=1)


def test_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted"):
        XQDA().distance(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError):
        XQDA().transform(np.ones((2, 3)))
    with pytest.raises(AttributeError):
        XQDA().transform(np.ones((2, 3)))


@pytest.mark.parametrize("change, message", [
    (lambda a: (a[0][0], *a[1:]), "2-D"),
    (lambda a: (a[0], a[1][:, :-1], *a[2:]), "features"),
    (lambda a: (np.where(a[0] > 1, np.nan, a[0]), *a[1:]), "NaN"),
    (lambda a: (*a[:2], a[2][:-1], a[3]), "labels for"),
    (lambda a: (*a[:3], a[3][:, None]), "1-D"),
    (lambda a: (*a[:3], a[3] + 100), "at least 2 labels"),
    (lambda a: (*a[:2], np.zeros_like(a[2]), np.zeros_like(a[3])), "at least 2 labels"),
])
def test_bad_input(change, message):
    args = make_views(5, 3, 6)
    with pytest.raises(ValueError, match=message):
        XQDA().fit(*change(args))


@pytest.mark.parametrize("params, message", [
    ({"lam": -0.1}, "lam"), ({"lam": float("nan")}, "lam"), ({"dims": 0}, "dims"),
    ({"dims": 2.5}, "dims"), ({"qr": "yes"}, "qr"),
])
def test_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        XQDA(**params).fit(*make_views(5, 3, 6))


def test_fitted_model_rejects_wrong_feature_count():
    model = XQDA().fit(*make_views(5, 3, 6))
    with pytest.raises(ValueError, match="features"):
        model.distance(np.ones((2, 5)), np.ones((2, 5)))

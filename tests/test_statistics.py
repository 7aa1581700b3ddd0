"""Intervals and paired tests, checked by simulation against what they must achieve."""

import numpy as np
import pytest
from scipy import stats

import benchmark.evaluation.statistics as st
from benchmark.evaluation.outcomes import QueryOutcomes


def test_point_value_is_the_table_average_of_trials_and_folds():
    rng = np.random.default_rng(0)
    folds = []
    for _ in range(3):
        pids = np.repeat(np.arange(10), rng.integers(2, 6, size=10))
        ranks = rng.integers(-1, 12, size=(4, len(pids)))
        ap = np.where(rng.random(len(pids)) < 0.1, np.nan, rng.random(len(pids)))
        folds.append(QueryOutcomes(pids, ranks, ap))
    identities = np.arange(10)
    table_rank5 = np.mean([np.mean([(r[r >= 0] < 5).mean() for r in f.ranks]) for f in folds])
    table_map = np.mean([np.nanmean(f.ap) for f in folds])
    assert st.metric_sums(folds, identities, "rank5").value() == pytest.approx(table_rank5)
    assert st.metric_sums(folds, identities, "mAP").value() == pytest.approx(table_map)


def test_exact_sign_flip_test_equals_scipys_permutation_test():
    d = np.array([0.3, -0.1, 0.5, 0.2, 0.05, -0.4, 0.25])
    reference = stats.permutation_test((d, np.zeros_like(d)), lambda x, y: np.sum(x - y),
                                       permutation_type="samples", n_resamples=np.inf)
    assert st.sign_flip_pvalues(d)[0] == pytest.approx(reference.pvalue)


def test_holm_by_hand():
    np.testing.assert_allclose(st.holm(np.array([0.01, 0.04, 0.03, np.nan])),
                               [0.03, 0.06, 0.06, np.nan])


def simulated_pair(rng, n_ids, shift):
    """Rank-1 sums of two methods on the same queries: identity difficulty is shared,
    outcomes are independent draws; method A's hit probability is raised by ``shift``."""
    queries = rng.integers(3, 11, size=n_ids) * 5  # 5 trials pooled into one slot
    p = rng.beta(2, 5, size=n_ids)
    a = rng.binomial(queries, np.minimum(p + shift, 1.0))
    b = rng.binomial(queries, p)
    den = queries[None, :].astype(float)
    return st.RatioSums(a[None, :].astype(float), den), st.RatioSums(b[None, :].astype(float), den)


def rejection_rate(shift, n_ids=40, tables=1000, seed=0):
    rng = np.random.default_rng(seed)
    d = np.array([st.paired_contributions(*simulated_pair(rng, n_ids, shift))
                  for _ in range(tables)])
    return float(np.mean(st.sign_flip_pvalues(d, 2000, rng) < 0.05)), d


def test_calibration_same_distribution_rejects_at_the_nominal_rate():
    rate, _ = rejection_rate(shift=0.0)
    assert 0.03 <= rate <= 0.07


def test_power_matches_the_paired_t_prediction():
    rate, d = rejection_rate(shift=0.03, seed=1)
    # prediction: a paired t-test on the identity contributions of a large independent
    # simulation of the same population (noncentral t), which the permutation test matches
    _, big = rejection_rate(shift=0.03, tables=20, seed=2)
    big = big.ravel() * 40  # contributions of one identity, scale-free for the ratio
    effect = big.mean() / big.std(ddof=1) * np.sqrt(40)
    critical = stats.t.ppf(0.975, 39)
    predicted = stats.nct.sf(critical, 39, effect) + stats.nct.cdf(-critical, 39, effect)
    assert 0.2 < predicted < 0.8  # a shift the test can miss: the rate is informative
    assert abs(rate - predicted) < 0.06


def coverage(clustered_weights: bool, reps=1000, n_ids=100, per_id=8, seed=0):
    """Coverage of the 95 % percentile interval of a hit rate whose queries of one
    identity are perfectly correlated (true mean 0.25)."""
    rng = np.random.default_rng(seed)
    hits = (rng.random((reps, n_ids)) < rng.beta(2, 6, size=(reps, n_ids))).astype(float)
    if clustered_weights:
        num, den = hits * per_id, np.full((reps, n_ids), float(per_id))
    else:  # every query its own cluster
        num, den = np.repeat(hits, per_id, axis=1), np.ones((reps, n_ids * per_id))
    weights = st.bootstrap_weights(num.shape[1], 1000, rng)
    samples = (weights @ num.T) / (weights @ den.T)  # (resamples, reps)
    low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    return float(np.mean((low <= 0.25) & (0.25 <= high)))


def test_cluster_bootstrap_covers_at_the_nominal_rate_and_a_query_level_one_does_not():
    assert 0.93 <= coverage(clustered_weights=True) <= 0.97
    assert coverage(clustered_weights=False) < 0.8


def test_percentile_interval_and_bootstrap_weights():
    rng = np.random.default_rng(0)
    weights = st.bootstrap_weights(5, 200, rng)
    assert weights.shape == (200, 5) and (weights.sum(axis=1) == 5).all()
    assert st.percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))


def test_unpaired_cells_are_refused():
    a = st.RatioSums(np.ones((1, 3)), np.ones((1, 3)))
    b = st.RatioSums(np.ones((1, 3)), np.full((1, 3), 2.0))
    with pytest.raises(ValueError, match="not paired"):
        st.paired_contributions(a, b)

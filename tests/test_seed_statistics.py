"""Intervals and tests over training seeds and test identities: simulation checks that
can fail, and a small case computed by hand."""

import numpy as np
import pytest
from scipy import stats
from seed_simulation import Design, ratio_values, simulate

from benchmark.evaluation.seed_statistics import influences, seed_estimate
from benchmark.evaluation.statistics import sign_flip_pvalues

REPLICATIONS = 2000  # Monte Carlo standard error: 0.5 points at 5 %
TRAINING_EFFECTS = (0.01, 0.02, 0.04)  # SD of a (seed, fold) network's hit rate: 1-4 points


@pytest.fixture(scope="module", params=TRAINING_EFFECTS)
def evaluations(request):
    """Per-seed values and influences of two methods with the same expected value."""
    num, den = simulate(Design(), request.param, REPLICATIONS, seed=1)
    return request.param, ratio_values(num, den), influences(num, den), num, den


@pytest.mark.parametrize("seeds", [3, 5])
def test_paired_test_rejects_a_true_null_five_percent_of_the_time(evaluations, seeds):
    _, values, contributions, _, _ = evaluations
    estimate = seed_estimate(values[:, 0, :seeds] - values[:, 1, :seeds],
                             contributions[:, 0, :seeds] - contributions[:, 1, :seeds])
    rejected = np.mean(estimate.pvalue() < 0.05)
    assert 0.035 <= rejected <= 0.065


@pytest.mark.parametrize("seeds", [3, 5])
def test_interval_covers_the_expected_value_95_percent_of_the_time(evaluations, seeds):
    _, values, contributions, _, _ = evaluations
    low, high = seed_estimate(values[:, 0, :seeds], contributions[:, 0, :seeds]).interval()
    covered = np.mean((low <= 0.5) & (0.5 <= high))  # each method's expectation is 0.5
    assert 0.93 <= covered <= 0.97


def test_identity_only_test_fails_the_same_check_under_training_noise(evaluations):
    """Today's sign-flip test over identities on the seed-averaged outcomes, as the
    tables run it with one seed: it ignores the training effect and rejects too often."""
    effect, _, _, num, den = evaluations
    seeds = 3
    per_slot = (num[:, 0, :seeds] - num[:, 1, :seeds]) / den[:, 0, :seeds].sum(
        axis=-1, keepdims=True)
    contributions = per_slot.mean(axis=-2).mean(axis=-2)  # (replications, identities)
    rejected = np.mean(sign_flip_pvalues(contributions, 2000, np.random.default_rng(0))
                       < 0.05)
    if effect < 0.02:
        pytest.skip("a 1-point training effect is within the identity-only test's noise")
    assert rejected > 0.065


def test_normal_quantiles_with_three_seeds_reject_a_true_null_too_often():
    """Why each stage keeps its own t quantile: with 3 seeds and a large training effect,
    the same variance with the normal quantile (as a bootstrap over the seeds would
    use) rejects too often."""
    num, den = simulate(Design(), 0.04, REPLICATIONS, seed=2)
    values, contributions = ratio_values(num, den), influences(num, den)
    estimate = seed_estimate(values[:, 0, :3] - values[:, 1, :3],
                             contributions[:, 0, :3] - contributions[:, 1, :3])
    assert np.mean(np.abs(estimate.mean) > 1.96 * np.sqrt(estimate.variance)) > 0.065


def test_two_seeds_two_identities_by_hand():
    """Two seeds, two identities, one slot each; identity 1 has 1 query, identity 2 has 3.
    Seed 0: hits (1, 1) -> value 2/4; seed 1: hits (0, 3) -> value 3/4."""
    num = np.array([[[1.0, 1.0]], [[0.0, 3.0]]])
    den = np.array([[[1.0, 3.0]], [[1.0, 3.0]]])
    u = influences(num, den)
    # jackknife: without identity 1 the values are 1/3 and 1, without 2: 1 and 0;
    # u = -(n-1)/n * (left-out value), centred: seed 0: -(1/3, 1)/2 -> (1/3 - 1)/4 = -1/6
    assert u == pytest.approx(np.array([[1 / 6, -1 / 6], [-1 / 4, 1 / 4]]))
    estimate = seed_estimate(np.array([0.5, 0.75]), u)
    # identities: mean u = (-1/24, 1/24); V_id = 2/1 * 2 * (1/24)^2 = 1/144
    assert estimate.identity_variance == pytest.approx(1 / 144)
    # seeds: var(0.5, 0.75) = 1/32; residuals +-(5/24) on every entry:
    # I = 2 * 4 * (5/24)^2 / (1 * 1) = 25/72 > 1/32, so the seed part is 0
    assert estimate.seed_variance == pytest.approx(0.0)
    assert estimate.mean == pytest.approx(0.625)
    low, high = estimate.interval(0.95)
    half = stats.t.ppf(0.975, 1) / 12
    assert (low, high) == pytest.approx((0.625 - half, 0.625 + half))


def test_seed_part_by_hand_when_identities_agree():
    """Three seeds that shift every identity alike: no interaction, no identity spread;
    the interval is the t interval of three numbers with 2 degrees of freedom."""
    values = np.array([0.40, 0.50, 0.60])
    contributions = np.zeros((3, 4))
    estimate = seed_estimate(values, contributions)
    assert estimate.identity_variance == pytest.approx(0.0)
    assert estimate.seed_variance == pytest.approx(0.01 / 3)  # var = 0.01, over N = 3
    low, high = estimate.interval(0.95)
    assert high - 0.5 == pytest.approx(4.302653 * np.sqrt(0.01 / 3), rel=1e-6)
    assert estimate.pvalue() == pytest.approx(stats.ttest_1samp(values, 0).pvalue, rel=1e-6)

"""Intervals and paired tests over training seeds and test identities (``--seeds N``).

With one training seed a cell's interval and the paired tests cover the test identities
and the gallery draws only (:mod:`benchmark.evaluation.statistics`). With N >= 2 seeds the training
seed is a second random effect, crossed with the identities: every seed's network is
tested on the same identities and the same galleries. A cell's value is the mean over
seeds of the per-seed values ``v_j`` (each the table's ratio average over folds and
trials), and its variance has three parts, as in a two-way random-effects layout with
one observation per cell (Searle, Casella and McCulloch, *Variance Components*, 1992):

    Var(mean) = (identity part) + (seed part) / N + (seed x identity part) / N.

Each identity's linearised contribution to ``v_j`` (its influence, the first-order term
of the cluster bootstrap) is ``u_ij``; ``u_i`` is its mean over seeds. The rule, in two
stages:

1. **Identities** (shared by all seeds, as the folds and trials share them):
   ``V_id = n / (n - 1) * sum_i u_i**2``, the cluster (sandwich) variance of the
   seed-averaged value; it holds the identity part and the interaction / N.
2. **Seeds**: the spread of the per-seed values ``s2 = var_j(v_j)`` (ddof 1) holds the
   seed part and the interaction; the interaction is estimated from the residuals of
   the identity-by-seed table, ``I = n * sum_ij (u_ij - u_i)**2 / ((n - 1)(N - 1))``,
   and taken out: ``V_seed = max(s2 - I, 0) / N``.

The interval is ``mean ± sqrt(t(n - 1)**2 * V_id + t(N - 1)**2 * V_seed)``, each stage
with the t quantile of its own degrees of freedom (n identities, N seeds); the paired
test of two methods applies the same rule to their per-seed differences (their
influences subtract: the same queries, galleries and seeds) and its two-sided p-value is
the level whose interval just reaches 0. With few seeds and a large seed part the
t(N - 1) quantile is what keeps the coverage (4.30 for 3 seeds where a normal or a
bootstrap over 3 seeds has 1.96); Satterthwaite's pooled degrees of freedom (1946),
computed from the estimated parts, rejected a true null 8 % of the time with 3 seeds in
the simulation of ``tests/test_seed_statistics.py``.

Assumptions: seeds are independent draws of the training randomness, exchangeable with
any other seed; seed effects, identity effects and their interaction are independent
with finite variance; the per-seed value is close enough to linear in the identity
weights (hundreds of queries); the seed part is close to normal when N is small (the
t quantile is exact for a normal seed part and no identity part). Fold-to-fold
training effects are part of the seed part: each (seed, fold) trains its own network.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from benchmark.evaluation.statistics import RatioSums


def _ratio_average(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Mean over the last axis (slots) of ``top / bottom``, skipping empty slots."""
    counted = bottom > 0
    ratios = np.where(counted, top / np.where(counted, bottom, 1.0), 0.0)
    return ratios.sum(axis=-1) / np.maximum(counted.sum(axis=-1), 1)


def influences(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """(..., identities) each identity's contribution to the ratio average of
    ``num``/``den`` ((..., slots, identities)), from the jackknife: ``(n - 1) / n`` times
    the value minus the value without that identity, centred. Jackknife rather than
    the first-order (delta-method) term: for a ratio with unequal cluster sizes the
    latter's variance runs low (Efron and Stein, 1981)."""
    n = num.shape[-1]
    top, bottom = num.sum(axis=-1), den.sum(axis=-1)                  # (..., slots)
    left_out = _ratio_average(top[..., None, :] - np.swapaxes(num, -1, -2),
                              bottom[..., None, :] - np.swapaxes(den, -1, -2))
    u = -(n - 1) / n * left_out
    return u - u.mean(axis=-1, keepdims=True)


def sums_influences(sums: RatioSums) -> np.ndarray:
    """(identities,) :func:`influences` of one seed's :class:`RatioSums`."""
    return influences(sums.num, sums.den)


@dataclass(frozen=True)
class SeedEstimate:
    """A seed-averaged value with its two variance parts (arrays of the leading shape of
    the inputs of :func:`seed_estimate`), ``seeds`` and the identities that count."""

    mean: np.ndarray
    identity_variance: np.ndarray
    seed_variance: np.ndarray
    seeds: int
    identities: int

    @property
    def variance(self) -> np.ndarray:
        return self.identity_variance + self.seed_variance

    def half_width(self, confidence: float | np.ndarray = 0.95) -> np.ndarray:
        """``sqrt(t(n - 1)**2 * V_id + t(N - 1)**2 * V_seed)``: each stage's variance
        with the t quantile of its own degrees of freedom."""
        tail = 0.5 + np.asarray(confidence) / 2
        return np.sqrt(stats.t.ppf(tail, self.identities - 1) ** 2 * self.identity_variance
                       + stats.t.ppf(tail, self.seeds - 1) ** 2 * self.seed_variance)

    def interval(self, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """``mean ± half_width(confidence)``."""
        half = self.half_width(confidence)
        return self.mean - half, self.mean + half

    def pvalue(self, steps: int = 50) -> np.ndarray:
        """Two-sided p-value of ``mean == 0`` (for a paired difference): the level whose
        interval just reaches 0, found by bisection."""
        low = np.zeros(np.shape(self.mean))
        high = np.ones(np.shape(self.mean))
        distance = np.abs(self.mean)
        for _ in range(steps):  # the half-width grows with the confidence 1 - p
            middle = (low + high) / 2
            reaches = self.half_width(1 - middle) >= distance
            low, high = np.where(reaches, middle, low), np.where(reaches, high, middle)
        return np.where(self.variance > 0, (low + high) / 2,
                        np.where(distance == 0, 1.0, 0.0))


def seed_estimate(values: np.ndarray, contributions: np.ndarray,
                  identities: int | None = None) -> SeedEstimate:
    """The rule of the module docstring. ``values``: (..., N) per-seed values (N >= 2);
    ``contributions``: (..., N, n) their identity influences (:func:`influences`);
    ``identities``: how many of the n count queries (default n): the identity stage's
    degrees of freedom are ``identities - 1``."""
    values = np.asarray(values, dtype=np.float64)
    u = np.asarray(contributions, dtype=np.float64)
    seeds, n = u.shape[-2], u.shape[-1]
    if seeds < 2 or values.shape[-1] != seeds:
        raise ValueError(f"need the values and influences of >= 2 seeds, got "
                         f"{values.shape[-1]} values and {seeds} influence rows")
    counted = n if identities is None else int(identities)
    mean_u = u.mean(axis=-2)
    mean_u = mean_u - mean_u.mean(axis=-1, keepdims=True)
    identity = counted / (counted - 1) * (mean_u ** 2).sum(axis=-1)
    spread = values.var(axis=-1, ddof=1)
    residual = u - u.mean(axis=-1, keepdims=True) - mean_u[..., None, :]
    interaction = counted * (residual ** 2).sum(axis=(-2, -1)) / (
        (counted - 1) * (seeds - 1))
    return SeedEstimate(mean=values.mean(axis=-1), identity_variance=identity,
                        seed_variance=np.maximum(spread - interaction, 0.0) / seeds,
                        seeds=seeds, identities=counted)


def cell_estimate(per_seed: list[RatioSums]) -> SeedEstimate:
    """The estimate of a cell evaluated with several training seeds (scalars)."""
    return seed_estimate(np.array([s.value() for s in per_seed]),
                         np.array([sums_influences(s) for s in per_seed]),
                         counted_identities(per_seed))


def paired_estimate(a: list[RatioSums], b: list[RatioSums]) -> SeedEstimate:
    """The estimate of A - B, seed by seed (the same queries, galleries and seeds)."""
    return seed_estimate(np.array([x.value() - y.value() for x, y in zip(a, b, strict=True)]),
                         np.array([sums_influences(x) - sums_influences(y)
                                   for x, y in zip(a, b, strict=True)]),
                         counted_identities(a))


def counted_identities(per_seed: list[RatioSums]) -> int:
    """How many identities count queries in any seed's slots."""
    return int(np.any([s.den.sum(axis=0) > 0 for s in per_seed], axis=0).sum())

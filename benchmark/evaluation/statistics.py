"""Intervals and paired tests over test identities, vectorised over resamples.

A table cell is a *ratio average*: for each slot s (a fold's trial for the ranks, a fold
for mAP) the sum over queries of an outcome divided by the number of queries that count,
then the mean over slots. Grouping the queries by identity i gives per-identity sums
``num[s, i]`` and ``den[s, i]``, and weighting identities by ``w`` gives

    value(w) = mean_s  (sum_i w_i num[s, i]) / (sum_i w_i den[s, i]),

with ``w = 1`` the table's number. Everything here works on those sums:

- **Cluster bootstrap** (Efron; Field and Welsh, 2007): identities, not queries, are
  resampled with replacement (multinomial weights), because the queries of one identity
  are not independent (one appearance, one body). The same weights apply in every slot
  an identity appears in, so the folds and trials that share test identities stay
  paired, as the table averages them. The 95 % percentile interval covers the
  variation from test identities and gallery draws (the trials are inside the
  statistic); it does not cover training seeds.
- **Paired sign-flip permutation test** (Fisher's randomisation test for paired data):
  two methods evaluated on the same queries and galleries have the same ``den``, so
  their difference is a sum of per-identity contributions ``d_i``; under the null
  hypothesis that the two methods are exchangeable within each identity, each ``d_i``
  is as likely to have either sign. The two-sided p-value is the share of sign flips
  whose |sum| reaches the observed one: exact (all 2^n flips) when that is at most the
  number of permutations, else Monte Carlo with the +1 correction (Phipson and Smyth,
  2010). A permutation test rather than a paired bootstrap test because it is exact
  under its null for any number of identities, which matters for the 38 test identities
  of BIWI.
- **Holm's step-down correction** controls the family-wise error of the comparisons a
  table makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.evaluation.outcomes import QueryOutcomes

RANK_CUTS = {"rank1": 1, "rank5": 5, "rank10": 10}


@dataclass(frozen=True)
class RatioSums:
    """Per-slot, per-identity numerators and denominators of one cell's metric."""

    num: np.ndarray  # (slots, identities)
    den: np.ndarray  # (slots, identities)

    def value(self, weights: np.ndarray | None = None) -> np.ndarray | float:
        """The metric under identity ``weights`` ((B, identities)); the point value without."""
        if weights is None:
            return float(ratio_means(self.num, self.den, np.ones((1, self.num.shape[1])))[0])
        return ratio_means(self.num, self.den, weights)


def ratio_means(num: np.ndarray, den: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B,) mean over slots of weighted ratios; slots whose weighted count is 0 are skipped."""
    top = weights @ num.T
    bottom = weights @ den.T
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)
    counted = bottom > 0
    return np.where(counted.any(axis=1),
                    np.nansum(ratios, axis=1) / np.maximum(counted.sum(axis=1), 1), np.nan)


def identity_index(folds: list[QueryOutcomes], identities: np.ndarray) -> list[np.ndarray]:
    """Each fold's query identities as positions in ``identities`` (sorted)."""
    return [np.searchsorted(identities, f.pids) for f in folds]


def rank_sums(folds: list[QueryOutcomes], identities: np.ndarray, k: int) -> RatioSums:
    """CMC rank-k sums: one slot per (fold, trial); a query counts where its rank >= 0."""
    num, den = [], []
    for fold, index in zip(folds, identity_index(folds, identities), strict=True):
        counted = fold.ranks >= 0
        hits = counted & (fold.ranks < k)
        num += [np.bincount(index, h, minlength=len(identities)) for h in hits]
        den += [np.bincount(index, c, minlength=len(identities)) for c in counted]
    return RatioSums(np.array(num, dtype=np.float64), np.array(den, dtype=np.float64))


def map_sums(folds: list[QueryOutcomes], identities: np.ndarray) -> RatioSums:
    """Multi-shot mAP sums: one slot per fold; queries without a true match do not count."""
    num, den = [], []
    for fold, index in zip(folds, identity_index(folds, identities), strict=True):
        scored = ~np.isnan(fold.ap)
        num.append(np.bincount(index, np.where(scored, fold.ap, 0.0),
                               minlength=len(identities)))
        den.append(np.bincount(index, scored, minlength=len(identities)))
    return RatioSums(np.array(num, dtype=np.float64), np.array(den, dtype=np.float64))


def metric_sums(folds: list[QueryOutcomes], identities: np.ndarray, metric: str) -> RatioSums:
    """The :class:`RatioSums` of ``rank1``/``rank5``/``rank10``/``rank<k>`` or ``mAP``."""
    if metric == "mAP":
        return map_sums(folds, identities)
    if not metric.startswith("rank"):
        raise ValueError(f"unknown metric {metric!r}")
    return rank_sums(folds, identities, int(metric[4:]))


def bootstrap_weights(n_identities: int, resamples: int, rng: np.random.Generator
                      ) -> np.ndarray:
    """(resamples, n) multinomial counts: each row resamples the identities with replacement."""
    return rng.multinomial(n_identities, np.full(n_identities, 1.0 / n_identities),
                           size=resamples).astype(np.float64)


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The equal-tailed percentile interval of bootstrap ``samples`` (NaNs ignored)."""
    tail = 50.0 * (1.0 - confidence)
    low, high = np.nanpercentile(samples, [tail, 100.0 - tail], axis=-1)
    return float(low), float(high)


def paired_contributions(a: RatioSums, b: RatioSums) -> np.ndarray:
    """(identities,) ``d`` with ``a.value() - b.value() == d.sum()``.

    Needs the same denominators (the same queries counted in the same slots), which two
    methods evaluated on the same fold and galleries have.
    """
    if a.den.shape != b.den.shape or not np.array_equal(a.den, b.den):
        raise ValueError("the two cells did not count the same queries: not paired")
    totals = a.den.sum(axis=1)
    counted = totals > 0
    share = np.where(counted, 1.0 / np.where(counted, totals, 1), 0.0) / counted.sum()
    return share @ (a.num - b.num)


def sign_flips(n: int, permutations: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    """(P, n) signs: all 2^n patterns when that is at most ``permutations`` (exact), else
    ``permutations`` random ones; and whether the set is exact."""
    if n < 31 and 2 ** n <= permutations:
        codes = np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]
        return np.where(codes & 1, -1.0, 1.0), True
    return rng.choice(np.array([-1.0, 1.0]), size=(permutations, n)), False


def sign_flip_pvalues(d: np.ndarray, permutations: int = 10000,
                      rng: np.random.Generator | None = None) -> np.ndarray:
    """Two-sided p-values of paired sign-flip tests, one per row of ``d`` ((m, n) or (n,)).

    All rows share one set of flips, so a whole table is tested with one matrix product.
    """
    d = np.atleast_2d(np.asarray(d, dtype=np.float64))
    signs, exact = sign_flips(d.shape[1], permutations, rng or np.random.default_rng(0))
    observed = np.abs(d.sum(axis=1))
    flipped = np.abs(signs @ d.T)  # (P, m)
    tolerance = 1e-12 * np.maximum(np.abs(d).sum(axis=1), 1e-300)
    reached = (flipped >= observed - tolerance).sum(axis=0)
    p = reached / len(signs) if exact else (reached + 1) / (len(signs) + 1)
    return np.minimum(p, 1.0)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are left out of the family)."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    present = np.flatnonzero(~np.isnan(p))
    if not len(present):
        return out
    order = present[np.argsort(p[present], kind="stable")]
    m = len(order)
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out

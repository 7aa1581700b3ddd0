"""Intervals, pairwise tests and marks of one table, from the records' per-query outcomes.

Every cell of a data set's tables is computed under the same bootstrap weights (one
resampling of the test identities of all its folds, seeded by ``[statistics] seed``),
so intervals of differences are paired and the same records give the same numbers.

A cell evaluated with one training seed gets the cluster-bootstrap interval and the
sign-flip test over identities (:mod:`benchmark.evaluation.statistics`); a cell with several seeds
(``--seeds N``) the two-stage rule over seeds and identities
(:mod:`benchmark.evaluation.seed_statistics`). Two methods are paired seed by seed; a method with a
deterministic fit has one record, which stands for every seed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmark.evaluation.outcomes import QueryOutcomes
from benchmark.evaluation.seed_statistics import SeedEstimate, cell_estimate, paired_estimate
from benchmark.evaluation.statistics import (
    RatioSums,
    bootstrap_weights,
    holm,
    metric_sums,
    paired_contributions,
    percentile_interval,
    sign_flip_pvalues,
)
from benchmark.runs.config import StatisticsConfig
from benchmark.runs.records import record_seed_index

# (dataset, method, fold, seed index) -> {"<query>-><gallery>": outcomes}
OutcomeStore = dict[tuple[str, str, int, int], dict[str, QueryOutcomes]]
Cell = tuple[str, str, str]  # (method, query, gallery)
# seed index -> the cell's outcomes fold by fold
CellOutcomes = dict[int, list[QueryOutcomes]]
PAIRWISE_COLUMNS = ["table", "dataset", "query", "gallery", "metric", "method_a", "method_b",
                    "mean_a", "mean_b", "delta", "delta_ci_low", "delta_ci_high", "p_value",
                    "p_holm", "exact"]


def outcome_key(record: dict[str, Any]) -> tuple[str, str, int, int]:
    """A record's key in an :data:`OutcomeStore`."""
    return record["dataset"], record["method"], record["fold"], record_seed_index(record)


def cell_outcomes(records: list[dict[str, Any]], outcomes: OutcomeStore, dataset: str,
                  method: str, query: str, gallery: str) -> CellOutcomes | None:
    """The cell's outcomes fold by fold for each training seed that every fold of the
    cell has, or ``None`` when no seed has them on every fold."""
    mine = [r for r in records if r["dataset"] == dataset and r["method"] == method]
    folds = sorted({r["fold"] for r in mine})
    by_seed: CellOutcomes = {}
    for seed in sorted({record_seed_index(r) for r in mine}):
        found = [outcomes.get((dataset, method, fold, seed), {}).get(f"{query}->{gallery}")
                 for fold in folds]
        if all(f is not None for f in found):
            by_seed[seed] = found
    return by_seed or None


@dataclass(frozen=True)
class CellSums:
    """A cell's :class:`RatioSums`, one per training seed (by seed index)."""

    per_seed: dict[int, RatioSums]

    def value(self) -> float:
        """The table's value: the mean over seeds."""
        return float(np.mean([s.value() for s in self.per_seed.values()]))

    def estimate(self) -> SeedEstimate:
        """The two-stage estimate over seeds and identities (several seeds only)."""
        return cell_estimate(list(self.per_seed.values()))


@dataclass
class DatasetResampling:
    """The test identities of a data set's folds and one bootstrap resampling of them."""

    identities: np.ndarray
    weights: np.ndarray
    config: StatisticsConfig
    _samples: dict[tuple[Cell, str], tuple[CellSums, np.ndarray]] = field(
        default_factory=dict)

    @classmethod
    def of(cls, outcomes: OutcomeStore, dataset: str, config: StatisticsConfig
           ) -> DatasetResampling | None:
        pids = [o.pids for (d, *_), by_setting in outcomes.items() if d == dataset
                for o in by_setting.values()]
        if not pids:
            return None
        identities = np.unique(np.concatenate(pids))
        rng = np.random.default_rng([config.seed, 1])
        return cls(identities, bootstrap_weights(len(identities), config.resamples, rng),
                   config)

    def sums(self, cell: Cell, metric: str, outcomes: CellOutcomes
             ) -> tuple[CellSums, np.ndarray]:
        """The cell's sums and the bootstrap samples of its value (in %; the mean over
        seeds under each resampling of the identities), computed once."""
        key = (cell, metric)
        if key not in self._samples:
            sums = CellSums({seed: metric_sums(folds, self.identities, metric)
                             for seed, folds in outcomes.items()})
            samples = np.mean([s.value(self.weights) for s in sums.per_seed.values()],
                              axis=0)
            self._samples[key] = (sums, 100.0 * samples)
        return self._samples[key]

    def interval(self, cell: Cell, metric: str, outcomes: CellOutcomes
                 ) -> tuple[float, float]:
        """The cell's interval: the bootstrap's percentile interval with one seed, the
        two-stage interval over seeds and identities with several."""
        sums, samples = self.sums(cell, metric, outcomes)
        if len(sums.per_seed) == 1:
            return percentile_interval(samples, self.config.confidence)
        low, high = sums.estimate().interval(self.config.confidence)
        return 100.0 * float(low), 100.0 * float(high)


def paired_seeds(a: CellSums, b: CellSums, deterministic: set[str], methods: tuple[str, str]
                 ) -> list[tuple[int, int]]:
    """The (seed of A, seed of B) pairs two cells are compared on: the seeds both have;
    a method with a deterministic fit (in ``deterministic``) pairs its one record with
    every seed of the other."""
    seeds_a, seeds_b = sorted(a.per_seed), sorted(b.per_seed)
    if methods[0] in deterministic and len(seeds_a) == 1:
        return [(seeds_a[0], s) for s in seeds_b]
    if methods[1] in deterministic and len(seeds_b) == 1:
        return [(s, seeds_b[0]) for s in seeds_a]
    return [(s, s) for s in seeds_a if s in b.per_seed]


def pairwise_tests(cells: dict[Cell, CellOutcomes], resampling: DatasetResampling,
                   metrics: tuple[str, ...], settings: list[tuple[str, str]],
                   deterministic: set[str] | None = None) -> pd.DataFrame:
    """Every pair of methods in each (setting, metric): difference (percentage points,
    A - B), its paired interval, and the p-value; ``p_holm`` over the pairs of one
    column (setting and metric), the family a reader scans for "which rows of this
    column differ". Over all columns at once, the Monte Carlo p-value's floor
    1 / (permutations + 1) times several hundred pairs could never reach α.

    Paired on one seed: the bootstrap interval and the sign-flip test over identities;
    on several (``seeds`` column, present only then): the two-stage rule.
    ``deterministic``: the methods whose one record stands for every seed."""
    lines, contributions, estimates = [], [], []
    for (query, gallery), metric in itertools.product(settings, metrics):
        methods = [m for (m, q, g) in cells if (q, g) == (query, gallery)]
        for a, b in itertools.combinations(methods, 2):
            sums_a, samples_a = resampling.sums((a, query, gallery), metric,
                                                cells[(a, query, gallery)])
            sums_b, samples_b = resampling.sums((b, query, gallery), metric,
                                                cells[(b, query, gallery)])
            pairs = paired_seeds(sums_a, sums_b, deterministic or set(), (a, b))
            try:
                d = [paired_contributions(sums_a.per_seed[x], sums_b.per_seed[y])
                     for x, y in pairs]
            except ValueError:  # other folds or galleries: no paired test
                continue
            if not pairs:
                continue
            line = {"query": query, "gallery": gallery, "metric": metric,
                    "method_a": a, "method_b": b}
            if len(pairs) == 1:
                low, high = percentile_interval(samples_a - samples_b,
                                                resampling.config.confidence)
                mean_a, mean_b = 100.0 * sums_a.value(), 100.0 * sums_b.value()
                contributions.append(d[0])
                estimates.append(None)
            else:
                mean_a = 100.0 * np.mean([sums_a.per_seed[x].value() for x, _ in pairs])
                mean_b = 100.0 * np.mean([sums_b.per_seed[y].value() for _, y in pairs])
                estimate = paired_estimate([sums_a.per_seed[x] for x, _ in pairs],
                                           [sums_b.per_seed[y] for _, y in pairs])
                low, high = (100.0 * float(v)
                             for v in estimate.interval(resampling.config.confidence))
                contributions.append(None)
                estimates.append(estimate)
                line["seeds"] = len(pairs)
            lines.append({**line, "mean_a": mean_a, "mean_b": mean_b,
                          "delta": mean_a - mean_b, "delta_ci_low": low,
                          "delta_ci_high": high})
    if not lines:
        return pd.DataFrame(columns=[c for c in PAIRWISE_COLUMNS
                                     if c not in ("table", "dataset")])
    frame = pd.DataFrame(lines)
    one_seed = [row for row, c in enumerate(contributions) if c is not None]
    p_values = np.full(len(lines), np.nan)
    if one_seed:
        rng = np.random.default_rng([resampling.config.seed, 2])
        d = np.zeros((len(one_seed), len(resampling.identities)))
        for row, index in enumerate(one_seed):
            d[row] = contributions[index]
        p_values[one_seed] = sign_flip_pvalues(d, resampling.config.permutations, rng)
    for row, estimate in enumerate(estimates):
        if estimate is not None:
            p_values[row] = float(estimate.pvalue())
    frame["p_value"] = p_values
    frame["p_holm"] = frame.groupby(["query", "gallery", "metric"], sort=False)["p_value"] \
        .transform(lambda p: holm(p.to_numpy()))
    exact = 2 ** len(resampling.identities) <= resampling.config.permutations
    if "seeds" in frame:
        frame["seeds"] = frame["seeds"].fillna(1).astype(int)
        frame["exact"] = exact & (frame["seeds"] == 1)
    else:
        frame["exact"] = exact
    return frame


def marks(pairwise: pd.DataFrame, means: dict[tuple[str, str, str, str], float],
          alpha: float) -> set[tuple[str, str, str, str]]:
    """(method, query, gallery, metric) of each column's best value and every value not
    significantly below it: Holm over the table's comparisons with the best."""
    best: dict[tuple[str, str, str], str] = {}
    for (method, query, gallery, metric), value in means.items():
        key = (query, gallery, metric)
        if key not in best or value > means[(best[key], *key)]:
            best[key] = method
    rows = []
    for (method, query, gallery, metric) in means:
        leader = best[(query, gallery, metric)]
        if method == leader:
            continue
        hit = pairwise[(pairwise["query"] == query) & (pairwise.gallery == gallery)
                       & (pairwise.metric == metric)
                       & (((pairwise.method_a == method) & (pairwise.method_b == leader))
                          | ((pairwise.method_a == leader) & (pairwise.method_b == method)))]
        rows.append(((method, query, gallery, metric),
                     float(hit.p_value.iloc[0]) if len(hit) else np.nan))
    adjusted = holm(np.array([p for _, p in rows])) if rows else np.array([])
    marked = {(m, *key) for key, m in best.items()}
    marked |= {cell for (cell, _), p in zip(rows, adjusted, strict=True) if p >= alpha}
    return marked

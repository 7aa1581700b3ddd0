"""Intervals, pairwise tests and marks of one table, from the records' per-query outcomes.

Every cell of a data set's tables is computed under the same bootstrap weights (one
resampling of the test identities of all its folds, seeded by ``[statistics] seed``),
so intervals of differences are paired and the same records give the same numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from benchmark.config import StatisticsConfig
from benchmark.protocol import QueryOutcomes
from benchmark.statistics import (
    RatioSums,
    bootstrap_weights,
    holm,
    metric_sums,
    paired_contributions,
    percentile_interval,
    sign_flip_pvalues,
)

# (dataset, method, fold) -> {"<query>-><gallery>": outcomes}
OutcomeStore = dict[tuple[str, str, int], dict[str, QueryOutcomes]]
Cell = tuple[str, str, str]  # (method, query, gallery)
PAIRWISE_COLUMNS = ["table", "dataset", "query", "gallery", "metric", "method_a", "method_b",
                    "mean_a", "mean_b", "delta", "delta_ci_low", "delta_ci_high", "p_value",
                    "p_holm", "exact"]


def cell_outcomes(records: list[dict[str, Any]], outcomes: OutcomeStore, dataset: str,
                  method: str, query: str, gallery: str) -> list[QueryOutcomes] | None:
    """The cell's outcomes fold by fold, or ``None`` when a fold has none."""
    mine = sorted((r for r in records if r["dataset"] == dataset and r["method"] == method),
                  key=lambda r: r["fold"])
    folds = [outcomes.get((dataset, method, r["fold"]), {}).get(f"{query}->{gallery}")
             for r in mine]
    return folds if folds and all(f is not None for f in folds) else None


@dataclass
class DatasetResampling:
    """The test identities of a data set's folds and one bootstrap resampling of them."""

    identities: np.ndarray
    weights: np.ndarray
    config: StatisticsConfig
    _samples: dict[tuple[Cell, str], tuple[RatioSums, np.ndarray]] = field(
        default_factory=dict)

    @classmethod
    def of(cls, outcomes: OutcomeStore, dataset: str, config: StatisticsConfig
           ) -> DatasetResampling | None:
        pids = [o.pids for (d, _, _), by_setting in outcomes.items() if d == dataset
                for o in by_setting.values()]
        if not pids:
            return None
        identities = np.unique(np.concatenate(pids))
        rng = np.random.default_rng([config.seed, 1])
        return cls(identities, bootstrap_weights(len(identities), config.resamples, rng),
                   config)

    def sums(self, cell: Cell, metric: str, folds: list[QueryOutcomes]
             ) -> tuple[RatioSums, np.ndarray]:
        """The cell's sums and its bootstrap samples (in %), computed once."""
        key = (cell, metric)
        if key not in self._samples:
            sums = metric_sums(folds, self.identities, metric)
            self._samples[key] = (sums, 100.0 * sums.value(self.weights))
        return self._samples[key]

    def interval(self, cell: Cell, metric: str, folds: list[QueryOutcomes]
                 ) -> tuple[float, float]:
        return percentile_interval(self.sums(cell, metric, folds)[1], self.config.confidence)


def pairwise_tests(cells: dict[Cell, list[QueryOutcomes]], resampling: DatasetResampling,
                   metrics: tuple[str, ...], settings: list[tuple[str, str]]
                   ) -> pd.DataFrame:
    """Every pair of methods in each (setting, metric): difference (percentage points,
    A - B), its paired bootstrap interval, and the sign-flip p-value; ``p_holm`` over the
    pairs of one column (setting and metric), the family a reader scans for "which rows
    of this column differ". Over all columns at once, the Monte Carlo p-value's floor
    1 / (permutations + 1) times several hundred pairs could never reach α."""
    lines, contributions = [], []
    for (query, gallery), metric in itertools.product(settings, metrics):
        methods = [m for (m, q, g) in cells if (q, g) == (query, gallery)]
        for a, b in itertools.combinations(methods, 2):
            sums_a, samples_a = resampling.sums((a, query, gallery), metric,
                                                cells[(a, query, gallery)])
            sums_b, samples_b = resampling.sums((b, query, gallery), metric,
                                                cells[(b, query, gallery)])
            try:
                d = paired_contributions(sums_a, sums_b)
            except ValueError:  # other folds or galleries: no paired test
                continue
            low, high = percentile_interval(samples_a - samples_b,
                                            resampling.config.confidence)
            mean_a, mean_b = 100.0 * sums_a.value(), 100.0 * sums_b.value()
            lines.append({"query": query, "gallery": gallery, "metric": metric,
                          "method_a": a, "method_b": b, "mean_a": mean_a, "mean_b": mean_b,
                          "delta": mean_a - mean_b, "delta_ci_low": low,
                          "delta_ci_high": high})
            contributions.append(d)
    if not lines:
        return pd.DataFrame(columns=[c for c in PAIRWISE_COLUMNS
                                     if c not in ("table", "dataset")])
    frame = pd.DataFrame(lines)
    rng = np.random.default_rng([resampling.config.seed, 2])
    d = np.zeros((len(contributions), len(resampling.identities)))
    for row, contribution in enumerate(contributions):
        d[row] = contribution
    frame["p_value"] = sign_flip_pvalues(d, resampling.config.permutations, rng)
    frame["p_holm"] = frame.groupby(["query", "gallery", "metric"], sort=False)["p_value"] \
        .transform(lambda p: holm(p.to_numpy()))
    frame["exact"] = 2 ** len(resampling.identities) <= resampling.config.permutations
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

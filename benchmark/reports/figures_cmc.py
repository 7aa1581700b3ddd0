"""CMC curves (rank 1-20) of the cross-modal rows with their bootstrap bands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmark.reports.figures import SETTING_LABELS, save_figure  # noqa: E402
from benchmark.reports.table_statistics import (  # noqa: E402
    DatasetResampling,
    OutcomeStore,
    cell_outcomes,
)
from benchmark.runs.config import StatisticsConfig  # noqa: E402

MAX_RANK = 20


def cmc_bands(resampling: DatasetResampling, cell: tuple[str, str, str], folds: list
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) CMC in % at ranks 1..MAX_RANK: the table's average and the
    pointwise percentile band of the cluster bootstrap."""
    curves = np.array([resampling.sums(cell, f"rank{k}", folds)[1]
                       for k in range(1, MAX_RANK + 1)])
    mean = np.array([100.0 * resampling.sums(cell, f"rank{k}", folds)[0].value()
                     for k in range(1, MAX_RANK + 1)])
    tail = 50.0 * (1.0 - resampling.config.confidence)
    low, high = np.nanpercentile(curves, [tail, 100.0 - tail], axis=1)
    return mean, low, high


def plot_cmc(records: list[dict[str, Any]], outcomes: OutcomeStore, dataset: str,
             statistics: StatisticsConfig, stem: Path) -> list[Path]:
    """One panel per cross-modal direction, one curve per method with outcomes; returns
    the PNG and PDF written, or nothing without outcomes."""
    resampling = DatasetResampling.of(outcomes, dataset, statistics)
    if resampling is None:
        return []
    methods = list(dict.fromkeys(r["method"] for r in records if r["dataset"] == dataset))
    figure, axes = plt.subplots(1, len(SETTING_LABELS), figsize=(10, 4), sharey=True)
    drawn = False
    colours = dict(zip(methods, plt.cm.tab20(np.linspace(0, 1, 20))[::1], strict=False))
    ranks = np.arange(1, MAX_RANK + 1)
    for axis, ((query, gallery), label) in zip(axes, SETTING_LABELS.items(), strict=True):
        for method in methods:
            folds = cell_outcomes(records, outcomes, dataset, method, query, gallery)
            if folds is None:
                continue
            mean, low, high = cmc_bands(resampling, (method, query, gallery), folds)
            axis.plot(ranks, mean, label=method, linewidth=1.2, color=colours.get(method))
            axis.fill_between(ranks, low, high, color=colours.get(method), alpha=0.15,
                              linewidth=0)
            drawn = True
        axis.set_title(label, fontsize=9)
        axis.set_xlabel("rank")
        axis.set_xticks([1, 5, 10, 15, 20])
        axis.grid(alpha=0.3)
    if not drawn:
        plt.close(figure)
        return []
    axes[0].set_ylabel("CMC (%)")
    axes[-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.suptitle(f"Cross-modal CMC on {dataset}; bands: {100 * statistics.confidence:g} % "
                    f"cluster bootstrap over test identities ({statistics.resamples} "
                    f"resamples)", fontsize=9)
    return save_figure(figure, stem)

"""``rgbd-bench compare A B``: the paired difference of two methods, cell by cell."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from benchmark.evaluation.statistics import holm
from benchmark.reports.report import ONE_SEED_WARNING
from benchmark.reports.table_statistics import (
    DatasetResampling,
    cell_outcomes,
    outcome_key,
    pairwise_tests,
)
from benchmark.reports.tables import deterministic_methods, mixed_origins
from benchmark.runs.config import Profile, StatisticsConfig
from benchmark.runs.records import RecordStore
from methods.core.errors import BenchmarkError

log = logging.getLogger("rgbd_bench")

DEFAULT_METRICS = ("rank1", "mAP")


def compare_methods(store: RecordStore, method_a: str, method_b: str,
                    metrics: list[str] | None, statistics: StatisticsConfig,
                    current: Callable[[dict[str, Any]], bool] | None = None
                    ) -> pd.DataFrame:
    """One line per (data set, setting, metric) both methods were evaluated on: means,
    difference A - B in percentage points, its paired interval, the p-value and the
    Holm-adjusted one (over the lines shown), and ``seeds``: the training seeds the two
    were paired on (one: the identity-only rule; several: the rule over seeds and
    identities). With ``current`` (the run plan's
    :meth:`~benchmark.runs.planner.RunPlan.is_current`) only the records it accepts."""
    records = [r for r in store.all_records() if current is None or current(r)]
    known = sorted({r["method"] for r in records})
    for method in (method_a, method_b):
        if method not in known:
            raise BenchmarkError(f"no records of method {method!r} for profile "
                                 f"{store.profile!r} under {store.root}; methods with "
                                 f"records: {', '.join(known) or 'none'}")
    mine = [r for r in records if r["method"] in (method_a, method_b)]
    mixed = mixed_origins(mine)
    if mixed:
        log.warning("the records compared were made %s", mixed)
    outcomes = {}
    for record in mine:
        found, reason = store.outcomes(record)
        if found is None:
            raise BenchmarkError(f"record of {record['method']} fold {record['fold']} has no "
                                 f"per-query outcomes ({reason}); rerun `rgbd-bench run` "
                                 f"with the same options to add them")
        outcomes[outcome_key(record)] = found
    frames = []
    for dataset in sorted({r["dataset"] for r in mine}):
        settings = [tuple(s.split("->")) for s in sorted(
            set.intersection(*[set(found) for (d, *_), found in outcomes.items()
                               if d == dataset]))]
        cells = {}
        for method in (method_a, method_b):
            for query, gallery in settings:
                folds = cell_outcomes(mine, outcomes, dataset, method, query, gallery)
                if folds is not None:
                    cells[(method, query, gallery)] = folds
        resampling = DatasetResampling.of(outcomes, dataset, statistics)
        tests = pairwise_tests(cells, resampling, tuple(metrics or DEFAULT_METRICS),
                               settings, deterministic_methods())
        tests.insert(0, "dataset", dataset)
        frames.append(tests)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if table.empty:
        raise BenchmarkError(f"{method_a} and {method_b} share no evaluated setting on the "
                             f"same folds and galleries; nothing to compare")
    swap = table.method_a != method_a  # pairs come in table order; report A - B
    for column in ("delta", "delta_ci_low", "delta_ci_high"):
        table.loc[swap, column] = -table.loc[swap, column]
    table.loc[swap, ["delta_ci_low", "delta_ci_high"]] = \
        table.loc[swap, ["delta_ci_high", "delta_ci_low"]].to_numpy()
    table.loc[swap, ["mean_a", "mean_b"]] = table.loc[swap, ["mean_b", "mean_a"]].to_numpy()
    table["method_a"], table["method_b"] = method_a, method_b
    table["p_holm"] = holm(table["p_value"].to_numpy())
    table["seeds"] = table["seeds"].fillna(1).astype(int) if "seeds" in table else 1
    return table


def format_comparison(table: pd.DataFrame, method_a: str, method_b: str,
                      profile: Profile | Any) -> str:
    """The comparison as aligned text lines, ending with what the numbers are."""
    stats = profile.statistics
    level = f"{100 * stats.confidence:g} %"
    lines = [f"{method_a} vs {method_b} (profile {profile.name}); delta = A - B in "
             f"percentage points; seeds: training seeds paired",
             f"{'data set':10s} {'setting':12s} {'metric':6s} {'seeds':>5s} {'A':>7s} "
             f"{'B':>7s} {'delta':>7s} {level + ' interval':>18s} {'p':>7s} {'p (Holm)':>8s}"]
    for row in table.itertuples():
        interval = f"[{row.delta_ci_low:6.2f}, {row.delta_ci_high:6.2f}]"
        lines.append(f"{row.dataset:10s} {row.query + '->' + row.gallery:12s} "
                     f"{row.metric:6s} {row.seeds:5d} {row.mean_a:7.2f} {row.mean_b:7.2f} "
                     f"{row.delta:+7.2f} {interval:>18s} {row.p_value:7.4f} "
                     f"{row.p_holm:8.4f}")
    one = table.seeds == 1
    if one.any():
        lines.append(f"One seed: interval by cluster bootstrap over test identities "
                     f"({stats.resamples} resamples); p: paired sign-flip permutation test "
                     f"over test identities ({stats.permutations} flips, exact when fewer "
                     f"patterns exist).")
        if not {method_a, method_b} <= deterministic_methods():
            lines.append(f"Warning: {ONE_SEED_WARNING}.")
    if not one.all():
        lines.append("Several seeds: interval and p over training seeds and test "
                     "identities, paired seed by seed (docs/statistics.md); they cover "
                     "training seeds, test identities and gallery draws.")
    lines.append(f"Holm over the {len(table)} lines.")
    return "\n".join(lines)

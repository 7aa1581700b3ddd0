"""Tables with intervals and marks, the pairwise CSV, and `compare` on a hand-computed case."""

import logging

import numpy as np
import pandas as pd
import pytest
from statistics_helpers import simulated_records

from benchmark.evaluation.outcomes import QueryOutcomes
from benchmark.evaluation.statistics import holm
from benchmark.reports.compare import compare_methods, format_comparison
from benchmark.reports.report import load_outcomes
from benchmark.reports.tables import write_tables
from benchmark.runs.config import StatisticsConfig, load_profile
from benchmark.runs.records import RecordStore

FAST = StatisticsConfig(resamples=500, permutations=2000)


def bold_rows(markdown: str, column: int) -> set[str]:
    rows = [line.split(" | ") for line in markdown.splitlines()[2:]]
    return {row[0].strip("| ") for row in rows if row[column].startswith("**")}


def test_marks_keep_rows_not_significantly_below_the_best(tmp_path):
    records, outcomes = simulated_records({"one-stream": 1.0, "zero-padding": 0.35,
                                           "lomo-xqda": 0.98}, n_ids=60)
    files = write_tables(records, tmp_path, "quick", outcomes=outcomes, statistics=FAST)
    markdown = (tmp_path / "table3_synthetic.md").read_text()
    assert bold_rows(markdown, 1) == {"LOMO, XQDA", "One-stream network"}
    table = pd.read_csv(tmp_path / "table3_synthetic.csv")
    measured = table[table.source == "this run"]
    assert ((measured.rank1_ci_low <= measured.rank1)
            & (measured.rank1 <= measured.rank1_ci_high)).all()
    pairwise = pd.read_csv(tmp_path / "pairwise3_synthetic.csv")
    assert tmp_path / "pairwise3_synthetic.csv" in files
    assert len(pairwise) == 3 * 2 * 4  # pairs x directions x metrics
    assert (pairwise.p_holm >= pairwise.p_value).all()
    for _, column in pairwise.groupby(["query", "gallery", "metric"]):  # family: one column
        assert len(column) == 3
        assert column.p_holm.to_numpy() == pytest.approx(holm(column.p_value.to_numpy()))
    far = pairwise[(pairwise.method_b == "zero-padding") & (pairwise.metric == "rank1")]
    assert (far.p_holm < 0.05).all() and (far.delta_ci_low > 0).all()
    tex = (tmp_path / "table3_synthetic.tex").read_text()
    assert "sign-flip permutation test" in tex and "2000 flips" in tex


def test_no_significance_leaves_only_each_columns_best_bold(tmp_path):
    records, outcomes = simulated_records({"one-stream": 1.0, "lomo-xqda": 0.98}, n_ids=60)
    write_tables(records, tmp_path, "quick", outcomes=outcomes, statistics=FAST,
                 significance=False)
    assert len(bold_rows((tmp_path / "table3_synthetic.md").read_text(), 1)) == 1
    assert not (tmp_path / "pairwise3_synthetic.csv").exists()
    assert pd.read_csv(tmp_path / "table3_synthetic.csv").rank1_ci_low.notna().any()


def test_records_without_outcomes_give_tables_without_intervals_and_say_why(tmp_path,
                                                                            caplog):
    records, _ = simulated_records({"one-stream": 1.0, "lomo-xqda": 0.5})
    store = RecordStore(tmp_path / "records", "quick")
    for record in records:
        store.write(record)
    with caplog.at_level(logging.WARNING, logger="rgbd_bench"):
        outcomes = load_outcomes(store, store.all_records())
    assert outcomes == {}
    notes = [r.message for r in caplog.records]
    assert len(notes) == 1 and "4 of 4 records have no per-query outcomes" in notes[0]
    write_tables(records, tmp_path / "tables", "quick", outcomes=outcomes)
    table = pd.read_csv(tmp_path / "tables" / "table3_synthetic.csv")
    assert table.rank1_ci_low.isna().all()
    assert "no interval or test" in (tmp_path / "tables" / "table3_synthetic.tex").read_text()


def test_changed_outcomes_file_is_not_trusted(tmp_path):
    records, outcomes = simulated_records({"one-stream": 1.0})
    store = RecordStore(tmp_path, "quick")
    store.write(records[0], outcomes[("synthetic", "one-stream", 0, 0)])
    side, = (tmp_path / "quick" / "synthetic" / "one-stream").glob("fold0-*.outcomes.npz")
    read, _ = store.outcomes(store.all_records()[0])
    assert read == outcomes[("synthetic", "one-stream", 0, 0)]
    side.write_bytes(side.read_bytes()[:-1] + b"x")
    read, reason = store.outcomes(store.all_records()[0])
    assert read is None and "checksum" in reason


def test_compare_by_hand_three_identities(tmp_path):
    pids = np.array([0, 0, 1, 2])
    a = QueryOutcomes(pids, np.array([[0, 0, 0, 3]]), np.array([1.0, 0.5, 1.0, 0.25]))
    b = QueryOutcomes(pids, np.array([[0, 2, 1, 3]]), np.array([0.5, 0.5, 0.5, 0.25]))
    store = RecordStore(tmp_path, "quick")
    for method, item in (("lomo-xqda", a), ("one-stream", b)):
        scores = {"rank1": 0.5, "rank5": 1.0, "rank10": 1.0, "mAP": 0.5}  # not read here
        store.write({"dataset": "synthetic", "method": method, "fold": 0,
                     "task_hash": method, "results": {"rgb->depth": scores}}, {"rgb->depth": item})
    table = compare_methods(store, "lomo-xqda", "one-stream", None, FAST)
    rank1 = table[table.metric == "rank1"].iloc[0]
    # rank-1: A 3/4, B 1/4; identity contributions d = (1/4, 1/4, 0); of the 8 sign
    # patterns, the 4 with equal signs on identities 0 and 1 reach |sum| = 1/2
    assert (rank1.mean_a, rank1.mean_b, rank1.delta) == pytest.approx((75.0, 25.0, 50.0))
    assert rank1.p_value == pytest.approx(0.5)
    ap = table[table.metric == "mAP"].iloc[0]
    # mAP: A 2.75/4, B 1.75/4, d = (0.5/4, 0.5/4, 0): the same p
    assert ap.delta == pytest.approx(25.0) and ap.p_value == pytest.approx(0.5)
    assert list(table.p_holm) == pytest.approx([1.0, 1.0])  # Holm: 2 x 0.5
    swapped = compare_methods(store, "one-stream", "lomo-xqda", None, FAST)
    assert list(swapped.delta) == pytest.approx(list(-table.delta))
    assert (swapped.delta_ci_low <= swapped.delta).all()
    text = format_comparison(table, "lomo-xqda", "one-stream", load_profile("smoke"))
    assert "+50.00" in text and "0.5000" in text


def test_cmc_bands_hold_the_curve_and_start_at_the_tables_rank1(tmp_path):
    from benchmark.reports.figures_cmc import cmc_bands, plot_cmc
    from benchmark.reports.table_statistics import DatasetResampling, cell_outcomes

    records, outcomes = simulated_records({"one-stream": 1.0, "lomo-xqda": 0.5})
    resampling = DatasetResampling.of(outcomes, "synthetic", FAST)
    folds = cell_outcomes(records, outcomes, "synthetic", "one-stream", "rgb", "depth")
    mean, low, high = cmc_bands(resampling, ("one-stream", "rgb", "depth"), folds)
    rank1 = np.mean([r["results"]["rgb->depth"]["rank1"] for r in records
                     if r["method"] == "one-stream"])
    assert mean[0] == pytest.approx(100 * rank1)
    assert (np.diff(mean) >= 0).all() and (low <= mean).all() and (mean <= high).all()
    files = plot_cmc(records, outcomes, "synthetic", FAST, tmp_path / "cmc")
    assert [f.suffix for f in files] == [".png", ".pdf"] and all(f.is_file() for f in files)


SEEDED = {"one-stream": 3, "zero-padding": 3, "lomo-euclidean": 1}


def test_tables_over_seeds_show_the_spread_and_say_what_the_marks_cover(tmp_path):
    records, outcomes = simulated_records({"one-stream": 0.9, "zero-padding": 0.5,
                                           "lomo-euclidean": 0.85}, n_ids=40,
                                          seeds=SEEDED, seed_effect=0.05)
    write_tables(records, tmp_path, "quick", outcomes=outcomes, statistics=FAST)
    table = pd.read_csv(tmp_path / "table3_synthetic.csv")
    rows = table[table.source == "this run"].set_index(["method", "query"])
    assert rows.loc[("one-stream", "rgb"), "n_seeds"] == 3
    assert rows.loc[("lomo-euclidean", "rgb"), "n_seeds"] == 1
    # the seed spread: std over seeds of each seed's mean over folds, by hand
    per_seed = [np.mean([r["results"]["rgb->depth"]["rank1"] for r in records
                         if r["method"] == "one-stream" and r["config"]["seed_index"] == s])
                for s in range(3)]
    assert rows.loc[("one-stream", "rgb"), "rank1_seed_std"] == pytest.approx(
        100 * np.std(per_seed, ddof=1))
    assert rows.loc[("one-stream", "rgb"), "rank1"] == pytest.approx(100 * np.mean(per_seed))
    assert np.isnan(rows.loc[("lomo-euclidean", "rgb"), "rank1_seed_std"])
    markdown = (tmp_path / "table3_synthetic.md").read_text()
    assert "(seeds ± " in markdown
    tex = (tmp_path / "table3_synthetic.tex").read_text()
    assert "over training seeds and test identities" in tex
    assert "Training seeds per cell: 1, 3" in tex and "median" in tex
    pairwise = pd.read_csv(tmp_path / "pairwise3_synthetic.csv")
    # a deterministic row pairs its one record with every seed of the other
    assert (pairwise.seeds == 3).all() and not pairwise.exact.any()
    far = pairwise[(pairwise.method_a == "zero-padding") & (pairwise.method_b == "one-stream")
                   & (pairwise["query"] == "rgb") & (pairwise.metric == "rank1")].iloc[0]
    assert far.p_value < 0.05 and far.delta_ci_high < 0


def test_latex_seed_spread_as_a_column(tmp_path):
    records, outcomes = simulated_records({"one-stream": 0.9, "zero-padding": 0.5},
                                          seeds=3, seed_effect=0.05)
    write_tables(records, tmp_path, "quick", outcomes=outcomes, statistics=FAST,
                 seed_spread="column")
    tex = (tmp_path / "table3_synthetic.tex").read_text()
    header = next(line for line in tex.splitlines() if line.startswith("Approach"))
    assert header.count("& s") == 8  # one after each of 4 metrics x 2 directions
    assert "\\multicolumn{8}{c}" in tex and "\\cmidrule(lr){10-17}" in tex
    row = next(line for line in tex.splitlines() if line.startswith("One-stream"))
    assert row.count("&") == 16


def test_compare_says_how_many_seeds_and_warns_with_one(tmp_path):
    records, outcomes = simulated_records({"one-stream": 0.9, "zero-padding": 0.5},
                                          seeds=3, seed_effect=0.05)
    store = RecordStore(tmp_path / "records", "quick")
    for record in records:
        store.write(record, outcomes[(record["dataset"], record["method"], record["fold"],
                                      record["config"]["seed_index"])])
    table = compare_methods(store, "one-stream", "zero-padding", None, FAST)
    assert (table.seeds == 3).all()
    text = format_comparison(table, "one-stream", "zero-padding", load_profile("smoke"))
    assert "over training seeds and test identities" in text and "Warning" not in text
    first = [r for r in store.all_records() if r["config"]["seed_index"] == 0]
    one = compare_methods(store, "one-stream", "zero-padding", None, FAST,
                          current=lambda r: r in first)
    assert (one.seeds == 1).all()
    text = format_comparison(one, "one-stream", "zero-padding", load_profile("smoke"))
    assert "Warning: one training seed per cell" in text

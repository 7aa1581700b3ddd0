"""Tables from records: the paper's layout, aggregation, missing rows, LaTeX, paper numbers."""

import json

import numpy as np
import pandas as pd
import pytest

from benchmark.reports.table_formats import to_latex
from benchmark.reports.tables import aggregate, build_table, reported_numbers, write_tables


def record(dataset, method, fold, settings, value):
    results = {f"{q}->{g}": {"rank1": value, "rank5": value, "rank10": value, "mAP": value}
               for q, g in settings}
    return {"dataset": dataset, "method": method, "fold": fold, "results": results}


CROSS = [("rgb", "depth"), ("depth", "rgb")]


def test_aggregate_mean_and_sample_std_over_folds():
    records = [record("biwi", "one-stream", k, CROSS, v) for k, v in enumerate([0.1, 0.2, 0.6])]
    summary = aggregate(records)
    row = summary[(summary.method == "one-stream") & (summary["query"] == "rgb")].iloc[0]
    assert row["rank1"] == pytest.approx(30.0)
    assert row["rank1_std"] == pytest.approx(np.std([10, 20, 60], ddof=1))
    assert row["n_folds"] == 3


def test_aggregate_does_not_depend_on_the_order_records_are_read_in():
    """Record files are named by identity hashes, so the order they are read in is
    arbitrary; floating-point sums over folds and seeds must not follow it."""
    rng = np.random.default_rng(0)
    records = []
    for fold in range(3):
        for seed in range(3):
            one = record("biwi", "one-stream", fold, CROSS, float(rng.random()))
            one["config"] = {"seed_index": seed}
            records.append(one)
    reference = aggregate(records)
    for _ in range(5):
        shuffled = [records[i] for i in rng.permutation(len(records))]
        pd.testing.assert_frame_equal(aggregate(shuffled), reference, check_exact=True)


@pytest.mark.parametrize("dataset, number", [("biwi", 3), ("robotpku", 4)])
def test_cross_table_rows_follow_the_paper(dataset, number):
    table = build_table("cross", dataset, aggregate([]))
    paper = reported_numbers()
    expected = list(dict.fromkeys(paper[paper.table == number].approach))
    approaches = list(dict.fromkeys(table.approach))
    assert [a for a in approaches if not a.endswith(" (ours)")] == expected
    assert (table.table == number).all()
    assert set(table.source) <= {"missing", "reported (Zhuo et al., CCCV 2017)"}
    # Our runs of Zhuo et al.'s rows stand right after them (on every data set).
    for method in ("CCA", "LSSCDL"):
        ours = approaches.index(f"Eigen-depth HOG/SLTP, {method} (ours)")
        if dataset == "biwi":
            assert approaches[ours - 1] == f"Eigen-depth HOG/SLTP, {method}"


@pytest.mark.parametrize("dataset, number", [("biwi", 1), ("robotpku", 2)])
def test_single_table_rows_follow_the_paper(dataset, number):
    table = build_table("single", dataset, aggregate([]))
    assert table.method.iloc[-1] == "eigen-depth-euclidean"  # ours, after the paper's rows
    table = table.iloc[:-1]
    paper = reported_numbers()
    paper = paper[paper.table == number]
    assert list(zip(table["query"], table.loss.str.lower(), strict=True)) == list(
        zip(paper["query"].str.lower(), paper["loss"], strict=True))


def test_missing_rows_stay_missing_and_extra_methods_follow():
    records = [record("biwi", "one-stream", 0, CROSS, 0.5),
               record("biwi", "pixels-euclidean", 0, CROSS, 0.1)]
    table = build_table("cross", "biwi", aggregate(records))
    lomo = table[table.method == "lomo-xqda"]
    assert (lomo.source == "missing").all() and lomo["mAP"].isna().all()
    assert table.approach.iloc[-1] == "pixels-euclidean"
    assert table[table.method == "one-stream"]["mAP"].tolist() == [50.0, 50.0]


def test_with_paper_adds_reported_numbers_and_differences():
    records = [record("biwi", "one-stream", 0, CROSS, 0.5)]
    table = build_table("cross", "biwi", aggregate(records), with_paper=True)
    row = table[(table.method == "one-stream") & (table["query"] == "rgb")].iloc[0]
    assert row["paper_mAP"] == pytest.approx(16.86)
    assert row["diff_mAP"] == pytest.approx(50.0 - 16.86)
    eigen = table[table.approach.str.startswith("Eigen-depth")]
    reported = eigen[eigen.source.str.startswith("reported")]
    assert len(reported) == 6 and reported["mAP"].isna().all() \
        and reported["rank1"].notna().all()
    ours = eigen[~eigen.source.str.startswith("reported")]
    assert len(ours) == 4 and (ours.source == "missing").all() and ours["paper_rank1"].isna().all()


def test_latex_is_booktabs_with_bold_best_and_balanced():
    records = [record("biwi", "one-stream", k, CROSS, 0.5 + 0.01 * k) for k in range(3)]
    records += [record("biwi", "zero-padding", k, CROSS, 0.2) for k in range(3)]
    tex = to_latex(build_table("cross", "biwi", aggregate(records)), "cross", "cap")
    for token in ("\\toprule", "\\midrule", "\\bottomrule", "\\pm"):
        assert token in tex
    assert tex.count("\\begin{") == tex.count("\\end{")
    one_stream = next(line for line in tex.splitlines() if line.startswith("One-stream"))
    zero = next(line for line in tex.splitlines() if line.startswith("Zero-padding"))
    assert one_stream.count("\\mathbf") == 8 and "\\mathbf" not in zero
    assert all(line.count("&") == 8 for line in tex.splitlines()
               if line.endswith("\\\\") and not line.startswith(" &"))


def test_tables_name_the_runs_behind_their_numbers(tmp_path):
    records = []
    for fold, (commit, date) in enumerate([("c1", "2026-01-02"), ("c2", "2026-01-01")]):
        item = record("synthetic", "one-stream", fold, CROSS, 0.5)
        item["provenance"] = {"commit": commit, "date": date}
        item["config"] = {"trials": 10, "protocol": "paper", "seed": 0}
        records.append(item)
    write_tables(records, tmp_path, "quick", provenance={"commit": "writer"})
    info = json.loads((tmp_path / "table3_synthetic.json").read_text())
    assert info["written"]["commit"] == "writer"
    assert info["runs"] == {"records": 2, "commits": ["c1", "c2"],
                            "first_date": "2026-01-01", "last_date": "2026-01-02",
                            "trials": [10], "protocols": ["paper"], "seeds": [0],
                            "crops": [], "machines": ["unknown machine"],
                            "mixed": "by different code (commits c1, c2)"}


def test_csv_is_plain_and_provenance_is_in_the_side_file(tmp_path):
    records = [record("synthetic", "one-stream", 0, CROSS, 0.5)]
    files = write_tables(records, tmp_path, "quick", provenance={"commit": "abc123"})
    csv = tmp_path / "table3_synthetic.csv"
    assert csv in files
    assert csv.read_text().startswith("table,dataset,approach,")
    parsed = pd.read_csv(csv)
    assert "one-stream" in set(parsed.method) and "mAP" in parsed.columns
    info = json.loads((tmp_path / "table3_synthetic.json").read_text())
    assert info["written"]["commit"] == "abc123" and info["profile"] == "quick"
    assert "\\begin{table*}" in (tmp_path / "table3_synthetic.tex").read_text()


def test_same_records_leave_the_files_untouched(tmp_path):
    records = [record("synthetic", "one-stream", 0, CROSS, 0.5)]
    files = write_tables(records, tmp_path, "quick", provenance={"date": "first"})
    before = {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}
    write_tables(records, tmp_path, "quick", provenance={"date": "second"})
    assert {f: (f.read_bytes(), f.stat().st_mtime_ns) for f in files} == before
    changed = [record("synthetic", "one-stream", 0, CROSS, 0.25)]
    write_tables(changed, tmp_path, "quick", provenance={"date": "third"})
    info = json.loads((tmp_path / "table3_synthetic.json").read_text())
    assert info["written"]["date"] == "third"

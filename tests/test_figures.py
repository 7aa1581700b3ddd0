"""Figures 3-5 are drawn from records (and the crop cache for Figure 5)."""

from benchmark.reports.figures import plot_distillation
from benchmark.reports.report import write_report
from benchmark.reports.tables import aggregate
from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile


def distill_record(method, fold, value):
    results = {s: {"rank1": value, "rank5": value, "rank10": value, "mAP": value}
               for s in ("rgb->depth", "depth->rgb")}
    return {"dataset": "biwi", "method": method, "fold": fold, "results": results}


def test_distillation_figure_from_records(tmp_path):
    records = [distill_record("distill-depth2rgb-softmax", k, 0.3) for k in range(3)]
    records += [distill_record("distill-rgb2depth-softmax", k, 0.1) for k in range(3)]
    files = plot_distillation(aggregate(records), "biwi", tmp_path / "figure3_biwi")
    assert [f.suffix for f in files] == [".png", ".pdf"]
    assert all(f.stat().st_size > 1000 for f in files)
    assert plot_distillation(aggregate(records[:0]), "biwi", tmp_path / "none") == []
    (tmp_path / "again").mkdir()
    again = plot_distillation(aggregate(records), "biwi", tmp_path / "again" / "figure3_biwi")
    assert [f.read_bytes() for f in again] == [f.read_bytes() for f in files]


def test_report_draws_figure5_from_records_and_cache(tmp_path, toy_profile_file):
    profile = load_profile(str(toy_profile_file))
    paths = Paths(tmp_path / "out", tmp_path / "cache")
    plan = plan_run(profile)
    records = run_profile(plan, paths, quiet=True)
    examples = records[0]["examples"]["rgb->depth"]
    assert examples and all(len(e["gallery_frames"]) == 5 for e in examples)
    assert all(e["query_frame"] not in e["gallery_frames"] for e in examples)
    _, written = write_report(plan, paths)
    names = {p.name for p in written}
    assert "figure5_toy.png" in names and "table3_toy.csv" in names

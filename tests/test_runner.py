"""The runner: records, resume after an interruption, reuse, tables from records."""

import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.records import load_record
from benchmark.runs.runner import Paths, run_profile
from methods.core.errors import ConfigError
from methods.handcrafted.pixels import PixelsEuclidean


def paths(tmp_path):
    return Paths(output=tmp_path / "out", cache=tmp_path / "cache")


def run(profile, where):
    return run_profile(plan_run(profile), where, quiet=True)


def test_run_writes_one_record_per_method_and_fold(tmp_path, toy_profile_file):
    profile = load_profile(str(toy_profile_file))
    records = run(profile, paths(tmp_path))
    assert [(r["method"], r["fold"]) for r in records] == [("pixels-euclidean", 0),
                                                           ("pixels-euclidean", 1)]
    files = sorted((tmp_path / "out" / "records").rglob("fold*.json"))
    assert len(files) == 2
    record = json.loads(files[0].read_text())
    result = record["results"]["rgb->depth"]
    assert len(result["trials"]) == 3
    assert result["rank1"] == pytest.approx(np.mean([t["rank1"] for t in result["trials"]]))
    assert 0 < result["mAP"] <= 1 and result["map_queries"] == record["counts"]["test"]
    assert set(record["results"]) == {"rgb->depth", "depth->rgb"}
    assert record["provenance"]["versions"]["numpy"]
    assert record["seeds"]["protocol"] != record["seeds"]["method"]


def test_rerun_resumes_after_interruption(tmp_path, toy_profile_file, monkeypatch):
    profile = load_profile(str(toy_profile_file))
    calls = []
    original = PixelsEuclidean.fit

    def crash_on_second_fold(self, train, val):
        calls.append(self.context.fold)
        if self.context.fold == 1:
            raise KeyboardInterrupt
        return original(self, train, val)

    monkeypatch.setattr(PixelsEuclidean, "fit", crash_on_second_fold)
    with pytest.raises(KeyboardInterrupt):
        run(profile, paths(tmp_path))
    store = paths(tmp_path).record_store(profile)
    written = store.all_of("toy", "pixels-euclidean", 0)
    assert len(written) == 1 and not store.all_of("toy", "pixels-euclidean", 1)
    first = load_record(written[0])
    assert not list((tmp_path / "out").rglob("*.tmp"))
    monkeypatch.setattr(PixelsEuclidean, "fit", original)
    calls.clear()
    records = run(profile, paths(tmp_path))
    assert records[0] == first  # fold 0 was not recomputed
    assert store.read("toy", "pixels-euclidean", 1, records[1]["task_hash"]) is not None


def test_same_profile_gives_same_numbers(tmp_path, toy_profile_file):
    profile = load_profile(str(toy_profile_file))
    a = run(profile, paths(tmp_path / "a"))
    b = run(profile, paths(tmp_path / "b"))
    assert [r["results"] for r in a] == [r["results"] for r in b]


def test_changed_config_reruns_the_task(tmp_path, toy_profile_file):
    first = run(load_profile(str(toy_profile_file)), paths(tmp_path))
    changed = load_profile(str(toy_profile_file), ["run.trials=2"])
    second = run(changed, paths(tmp_path))
    assert len(second[0]["results"]["rgb->depth"]["trials"]) == 2
    assert second[0]["task_hash"] != first[0]["task_hash"]


def test_pixels_baseline_beats_chance_on_toy_data(tmp_path, toy_profile_file):
    records = run(load_profile(str(toy_profile_file)), paths(tmp_path))
    rgb = [r["results"]["rgb->depth"]["rank1"] for r in records]
    assert min(rgb) >= 0.0  # cross-modal pixels carry no shared scale: only a floor
    test_ids = len(records[0]["config"]["fold"]["test"])
    assert records[0]["counts"]["test"] == test_ids * 6


def test_unknown_method_is_a_clear_error(tmp_path, toy_profile_file):
    profile = load_profile(str(toy_profile_file), ['run.methods=["nope"]'])
    with pytest.raises(ConfigError, match="unknown method 'nope'.*pixels-euclidean"):
        plan_run(profile)


def test_cli_run_then_tables_and_resume(tmp_path, toy_profile_file, capsys):
    argv = ["run", "--profile", str(toy_profile_file), "--output", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--quiet"]
    assert main(argv) == 0
    tables = tmp_path / "out" / "tables" / "toy"
    assert (tables / "table3_toy.csv").is_file() and (tables / "table3_toy.tex").is_file()
    record, = (tmp_path / "out" / "records" / "toy" / "toy" / "pixels-euclidean"
               ).glob("fold0-*.json")
    mtime = record.stat().st_mtime_ns
    assert main(argv) == 0
    assert record.stat().st_mtime_ns == mtime
    assert main(["tables", "--profile", str(toy_profile_file), "--output",
                 str(tmp_path / "out"), "--cache", str(tmp_path / "cache"),
                 "--format", "markdown", "--quiet"]) == 0
    assert "pixels-euclidean" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["run", "--profile", "nope"], "neither a built-in profile"),
    (["run", "--profile", "smoke", "--set", "run.bogus=1"], "unknown key(s) ['bogus']"),
    (["run", "--profile", "smoke", "--methods", "nope"], "unknown method 'nope'"),
    (["run", "--profile", "smoke", "--dataset", "nope"], "unknown data set 'nope'"),
])
def test_bad_input_is_one_error_line(tmp_path, capsys, argv, message):
    code = main([*argv, "--output", str(tmp_path / "o"), "--cache", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_cli_datasets_preview(tmp_path, capsys):
    png = tmp_path / "toy.png"
    assert main(["datasets", "--dataset", "toy", "--preview", str(png),
                 "--cache", str(tmp_path / "cache")]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["datasets", "--preview", str(png)]) == 2
    assert "--preview needs --dataset" in capsys.readouterr().err


def test_dry_run_tells_current_records_from_stale_ones(tmp_path, toy_profile_file, capsys):
    out = ["--output", str(tmp_path / "out")]
    assert main(["run", "--profile", str(toy_profile_file), "--folds", "1", "--quiet",
                 "--no-tables", *out]) == 0
    capsys.readouterr()
    assert main(["run", "--profile", str(toy_profile_file), "--folds", "1", "--dry-run",
                 *out]) == 0
    assert "fold 0 (record exists) [local]" in capsys.readouterr().out
    toy_profile_file.write_text(toy_profile_file.read_text().replace("trials = 3",
                                                                     "trials = 4"))
    assert main(["run", "--profile", str(toy_profile_file), "--folds", "1", "--dry-run",
                 *out]) == 0
    assert "fold 0 (record made with other evaluation: reruns) [local]" in \
        capsys.readouterr().out


def test_a_warm_run_that_changes_a_triplet_setting_trains_no_softmax_network(
        tmp_path, toy_profile_file, monkeypatch, one_torch_thread):
    from methods.deep import engine

    tiny = ['run.methods=["resnet-rgb-softmax", "resnet-rgb-triplet"]', "run.folds=1",
            'options.deep.network={arch = "resnet10", height = 16, width = 8}',
            "options.deep.selection.epochs=1", "options.deep.selection.eval_every=1",
            "options.deep.softmax.batch_size=8", "options.deep.triplet.p=2",
            "options.deep.triplet.k=2", "options.deep.triplet.identity_epochs=false"]
    where = paths(tmp_path)
    first = {r["method"]: r for r in run(load_profile(str(toy_profile_file), tiny), where)}
    trained = []

    def counting(cls):
        original = cls.fit

        def fit(self):
            trained.append(cls.__name__)
            return original(self)
        monkeypatch.setattr(cls, "fit", fit)

    counting(engine.SoftmaxEngine)
    counting(engine.TripletEngine)
    changed = load_profile(str(toy_profile_file), [*tiny, "options.deep.triplet.margin=0.1"])
    again = {r["method"]: r for r in run(changed, where)}
    assert trained == ["TripletEngine"]
    assert again["resnet-rgb-softmax"]["results"] == first["resnet-rgb-softmax"]["results"]
    assert again["resnet-rgb-triplet"]["task_hash"] != first["resnet-rgb-triplet"]["task_hash"]

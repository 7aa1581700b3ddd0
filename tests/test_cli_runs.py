"""Runs as a user sees them (separate processes): reruns change nothing, other settings
never mix with a profile's records, tables find their records, logs stay plain."""

import json
import threading
import time

import pandas as pd
import pytest
from cli_helpers import rgbd

from benchmark.cli import main
from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile
from methods.core.locks import task_lock

RUN = ["run", "--profile", "smoke", "--methods", "pixels-euclidean", "--output", "out"]


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A folder where one smoke run of the pixel floor has finished."""
    tmp = tmp_path_factory.mktemp("run")
    first = rgbd(tmp, *RUN)
    assert first.code == 0, first.err
    return tmp, first


def test_rerun_leaves_every_file_byte_identical_and_quiet_says_where(finished):
    tmp, first = finished
    assert "\r" not in first.err and "\x1b[" not in first.err  # plain lines when redirected
    records, tables = snapshot(tmp / "out" / "records"), snapshot(tmp / "out" / "tables")
    again = rgbd(tmp, *RUN, "--quiet")
    assert again.code == 0 and again.err == ""
    assert again.out.strip() == "tables: out/tables/smoke (13 files, none changed)"
    assert snapshot(tmp / "out" / "records") == records
    assert snapshot(tmp / "out" / "tables") == tables
    table = pd.read_csv(tmp / "out" / "tables" / "smoke" / "table3_synthetic.csv")
    assert table.columns[0] == "table" and "pixels-euclidean" in set(table.method)


def test_other_settings_rerun_what_they_change_beside_the_profiles_records(finished):
    tmp, _ = finished
    before = snapshot(tmp / "out" / "records" / "smoke")
    result = rgbd(tmp, *RUN, "--set", "options.pixels-euclidean.height=4")
    assert result.code == 0, result.err
    after = snapshot(tmp / "out" / "records" / "smoke")
    assert {k: after[k] for k in before} == before  # nothing replaced
    added = sorted(set(after) - set(before))
    assert [name.split("/")[1] for name in added if name.endswith(".json")] == [
        "pixels-euclidean"] * 2  # the one method the setting reaches, both folds
    assert not [d.name for d in (tmp / "out" / "records").iterdir() if d.name != "smoke"]
    variants = [d.name for d in (tmp / "out" / "tables").iterdir() if d.name != "smoke"]
    assert len(variants) == 1 and variants[0].startswith("smoke+")
    assert f"tables go under the name {variants[0]}" in result.err
    info = json.loads((tmp / "out" / "tables" / variants[0] / "table3_synthetic.json")
                      .read_text())
    assert info["settings_changes"] == ["options.pixels-euclidean.height=4"]
    assert info["profile"] == variants[0]
    speed = rgbd(tmp, *RUN, "--set", "options.deep.compute.num_threads=2", "--quiet")
    assert speed.code == 0 and speed.out.strip().startswith("tables: out/tables/smoke (")


def test_tables_find_the_profile_with_records_and_build_no_cache(finished):
    tmp, _ = finished
    two = tmp / "two" / "records"
    (two / "toy" / "toy" / "m").mkdir(parents=True)
    (two / "toy" / "toy" / "m" / "fold0.json").write_text("{}")
    (two / "smoke").symlink_to(tmp / "out" / "records" / "smoke")
    result = rgbd(tmp, "tables", "--output", "two")
    assert result.code == 2 and "records exist for smoke, toy: pass --profile" in result.err
    only = tmp / "only"
    (only / "records").mkdir(parents=True)
    (only / "records" / "smoke").symlink_to(tmp / "out" / "records" / "smoke")
    result = rgbd(tmp, "tables", "--output", "only", "--cache", "empty", "--with-paper")
    assert result.code == 0, result.err
    assert "using profile 'smoke', the only one with records" in result.err
    assert "no paper numbers exist for data set 'synthetic'" in result.err
    assert "figure 5 not drawn: no crop cache" in result.err
    assert not (tmp / "empty" / "frames").exists()
    table = pd.read_csv(only / "tables" / "smoke" / "table3_synthetic.csv")
    assert not [c for c in table.columns if c.startswith("paper_")]


def test_tables_honour_methods_and_folds(finished, capsys):
    tmp, _ = finished
    argv = ["tables", "--profile", "smoke", "--output", str(tmp / "out"), "--cache",
            str(tmp / "c2")]
    assert main([*argv, "--folds", "1"]) == 0
    info = json.loads((tmp / "out" / "tables" / "smoke" / "table3_synthetic.json").read_text())
    assert info["folds"] == [0]
    assert main([*argv, "--methods", "whos-euclidean"]) == 2
    assert "no records for profile 'smoke'" in capsys.readouterr().err


def test_a_task_another_run_holds_is_done_last_not_twice(tmp_path, toy_profile_file,
                                                         monkeypatch):
    import benchmark.runs.runner as runner

    profile = load_profile(str(toy_profile_file))
    paths = Paths(tmp_path / "out", tmp_path / "cache")
    store = paths.record_store(profile)
    runner.open_dataset(profile, paths)
    plan = plan_run(profile, cache_dir=paths.cache)
    identity = {k: plan.task("pixels-euclidean", k).identity for k in (0, 1)}
    order, original = [], runner.run_task
    monkeypatch.setattr(runner, "run_task", lambda p, task, *a, **k: (
        order.append(task.fold), original(p, task, *a, **k))[1])
    holding, release = threading.Event(), threading.Event()

    def other_run():
        with task_lock(store.lock_path("toy", "pixels-euclidean", 0, identity[0]), wait=True):
            holding.set()
            release.wait(60)

    other = threading.Thread(target=other_run)
    other.start()
    holding.wait(60)
    worker = threading.Thread(target=run_profile, args=(plan_run(profile), paths),
                              kwargs={"quiet": True})
    worker.start()
    deadline = time.monotonic() + 60
    while store.read("toy", "pixels-euclidean", 1, identity[1]) is None \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert order == [1]  # fold 0 was skipped while the other run held it
    release.set()
    worker.join(60)
    other.join(60)
    assert order == [1, 0]


def test_a_corrupt_stored_network_names_its_artifact_folder(tmp_path, toy_profile_file):
    from benchmark.runs.runner import failure_reason, open_dataset

    profile = load_profile(str(toy_profile_file))
    paths = Paths(tmp_path / "out", tmp_path / "cache")
    dataset = open_dataset(profile, paths)[0]
    error = RuntimeError("PytorchStreamReader failed reading zip archive: failed finding "
                         "central directory")
    task = plan_run(profile).task("one-stream", 1)
    reason = failure_reason(error, paths, dataset, profile, task)
    folder = tmp_path / "cache" / "artifacts" / dataset.cache_key((16, 8)) / "fold1"
    assert reason.startswith("RuntimeError: PytorchStreamReader failed")
    assert f"under {folder} is truncated or corrupt; delete that folder" in reason
    plain = failure_reason(ValueError("bad\nsecond line"), paths, dataset, profile, task)
    assert plain == "ValueError: bad"

"""Faults of shared cluster storage: full disks, SIGTERM, shared folders, damaged records.

Each fault ends in one line naming the path, loses no finished work, leaves no temporary
file behind, and a rerun with the fault gone gives the tables of a clean run. Full disks
are small tmpfs mounts (root only; skipped otherwise).
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import assert_one_error_line, rgbd, rgbd_env, rgbd_inline

METHODS = "pixels-euclidean,lomo-euclidean,resnet-rgb-triplet"
RUN = ("run", "--profile", "smoke", "--methods", METHODS, "--folds", "1", "--trials", "1",
       "--set", "dataset.identities=8", "--set", "dataset.frames_per_identity=4")
TABLE_SUFFIXES = (".csv", ".md", ".tex", ".png")


def temporaries(*roots: Path) -> list[Path]:
    """Every file or folder under ``roots`` whose name says it is temporary."""
    return [p for root in roots for p in root.rglob("*") if "tmp" in p.name]


def tables_of(output: Path) -> dict[str, bytes]:
    """The table and figure files of the one profile under ``output`` (side files hold
    dates, so they are left out)."""
    return {p.name: p.read_bytes() for p in (output / "tables").glob("*/*")
            if p.suffix in TABLE_SUFFIXES}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A clean run of ``RUN`` under umask 022: its output is ``out``, its cache ``cache``."""
    folder = tmp_path_factory.mktemp("reference")
    result = rgbd(folder, *RUN, "--output", "out", "--cache", "cache", umask=0o022)
    assert result.code == 0, result.err
    return folder


@pytest.fixture
def tmpfs(request):
    """``mount(folder, size)``: a tmpfs of ``size`` (e.g. ``"1m"``) at ``folder``,
    unmounted when the test ends; ``resize(folder, size)`` grows it."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a tmpfs mount, which needs root")

    def mount(folder: Path, size: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                               str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
        request.addfinalizer(lambda: subprocess.run(["umount", "-l", str(folder)]))
        return folder

    return mount


def resize(folder: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(handle, b"\0" * 4096)
    except OSError:
        pass
    finally:
        os.close(handle)
    return filler


def test_full_cache_at_crop_cache_and_artifacts_then_a_rerun_with_space(tmp_path, tmpfs,
                                                                        reference):
    cache = tmpfs(tmp_path / "cache", "1m")  # these crops take 2.0 MB
    args = (*RUN, "--output", "out", "--cache", "cache")
    full = rgbd(tmp_path, *args, "--quiet")
    assert_one_error_line(full, "not enough space", "in cache/frames:", "needed")
    assert not temporaries(cache, tmp_path / "out")

    resize(cache, "3m")  # the crops fit; LOMO features (3.5 MB) and the network (20 MB) not
    full = rgbd(tmp_path, *args)
    assert full.code == 1, full.err
    assert "Traceback" not in full.err
    failed = [line for line in full.err.splitlines() if line.startswith("  ")]
    assert [line.split(":")[0].strip() for line in failed] == \
        ["lomo-euclidean fold 0", "resnet-rgb-triplet fold 0"]
    assert all("not enough space" in line and " in cache/artifacts/" in line
               for line in failed), failed
    assert not temporaries(cache, tmp_path / "out")

    resize(cache, "64m")
    again = rgbd(tmp_path, *args)
    assert again.code == 0, again.err
    assert "pixels-euclidean fold 0: finished earlier, skipped" in again.err
    assert tables_of(tmp_path / "out") == tables_of(reference / "out")
    assert not temporaries(cache, tmp_path / "out")


def test_full_output_keeps_the_failed_tasks_summary_and_exit_code(tmp_path, tmpfs,
                                                                  reference):
    out = tmpfs(tmp_path / "out", "2m")  # the tables take 1.4 MB
    cache = ("--cache", str(reference / "cache"))
    first = rgbd(tmp_path, *RUN[:4], "pixels-euclidean", *RUN[5:], "--output", "out", *cache,
                 "--no-tables")
    assert first.code == 0, first.err
    filler = fill(out)
    full = rgbd(tmp_path, *RUN, "--output", "out", *cache)
    assert full.code == 1, full.err
    assert "Traceback" not in full.err
    assert "rgbd-bench: 2 task(s) failed" in full.err
    # 2 tasks x (their outcomes file, their failure line), then splits.json
    assert full.err.count("no space left on device writing out/records/") == 5
    tables, splits = full.error_lines()
    assert "tables not written: no space left on device writing out/tables/" in tables
    assert "splits.json not written: no space left on device writing out/records/" in splits
    assert not temporaries(out)
    assert not [p for p in (out / "tables").rglob("*") if p.is_file()]

    filler.unlink()
    again = rgbd(tmp_path, *RUN, "--output", "out", *cache)
    assert again.code == 0, again.err
    assert tables_of(out) == tables_of(reference / "out")


def test_sigterm_says_what_finished_and_exits_143(tmp_path):
    command = [sys.executable, "-m", "benchmark", *RUN, "--output", "out"]
    run = subprocess.Popen(command, cwd=tmp_path, env=rgbd_env(tmp_path), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = tmp_path / "out" / "records"
    deadline = time.monotonic() + 120
    while not list(first.glob("*/*/pixels-euclidean/fold0-*.json")):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.05)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=120)
    assert run.returncode == 143, err
    assert "Traceback" not in err
    assert re.fullmatch(r"rgbd-bench: terminated \(SIGTERM\); [12] of 3 tasks finished and "
                        r"saved; rerun the same command to resume",
                        err.strip().splitlines()[-1]), err
    assert not temporaries(tmp_path / "out", tmp_path / "cache")


def test_run_files_are_shared_as_the_umask_allows(reference):
    modes = {(p.suffix or p.name, stat.S_IMODE(p.stat().st_mode))
             for folder in ("out", "cache") for p in (reference / folder).rglob("*")
             if p.is_file()}
    assert {mode for _, mode in modes} == {0o644}, sorted(modes)
    assert {".json", ".pt", ".npz", ".npy", ".csv", ".png"} <= {s for s, _ in modes}
    folders = {stat.S_IMODE(p.stat().st_mode) for p in (reference / "cache").rglob("*")
               if p.is_dir()}
    assert folders == {0o755}


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_every_writer_creates_files_as_the_umask_allows(tmp_path, umask):
    import numpy as np
    import torch

    from benchmark.reports.tables import write_table_files
    from methods.core.atomic import atomic_directory, write_json_atomic
    from methods.core.feature_store import FeatureStore
    from methods.deep.engine import save_checkpoint

    previous = os.umask(umask)
    try:
        write_json_atomic(tmp_path / "record.json", {"a": 1})
        write_table_files(tmp_path / "table", {".csv": "a\n1\n"}, {}, None)
        save_checkpoint(tmp_path / "network.pt", torch.nn.Linear(2, 2), {})
        FeatureStore(tmp_path / "features").get(np.zeros((3, 2)), lambda x: x)
        with atomic_directory(tmp_path / "crops") as folder:
            np.save(folder / "rgb.npy", np.zeros(2))
    finally:
        os.umask(previous)
    files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.rglob("*")}
    assert len(files) == 8
    assert set(files.values()) == {0o666 & ~umask, 0o777 & ~umask}
    assert {files["features"], files["crops"]} == {0o777 & ~umask}


def test_torch_write_failure_on_a_full_disk_is_named_as_such(tmp_path, tmpfs):
    import torch

    from methods.core.atomic import OutOfSpace, out_of_space

    folder = tmpfs(tmp_path / "small", "256k")
    weights = torch.zeros(1 << 18)  # 1 MiB
    with pytest.raises(RuntimeError) as caught:
        torch.save(weights, folder / "network.pt")
    full = out_of_space(caught.value, folder / "network.pt", weights.nbytes)
    assert isinstance(full, OutOfSpace)
    assert f"no space left on device writing {folder / 'network.pt'} (about 1.0 MiB " \
           f"needed" in str(full)
    assert out_of_space(RuntimeError("shape mismatch"), folder / "x.pt", 1) is None


def _record(reference: Path) -> tuple[Path, dict]:
    path = next((reference / "out" / "records").glob("*/*/pixels-euclidean/fold0-*.json"))
    return path, json.loads(path.read_text())


def test_a_record_with_a_wrong_value_is_named_with_its_field(tmp_path, capsys, reference):
    source, record = _record(reference)
    setting = next(iter(record["results"]))
    record["results"][setting].update({"rank1": "0.15", "mAP": "high"})
    target = tmp_path / "out" / source.relative_to(reference / "out")
    target.parent.mkdir(parents=True)
    target.write_text(json.dumps(record))
    shown = str(target.relative_to(tmp_path))
    problem = f"results.{setting}.rank1 must be a number in [0, 1], got '0.15'"
    tables = rgbd_inline(tmp_path, capsys, "tables", *RUN[1:], "--output", "out", "--quiet")
    assert_one_error_line(tables, shown, problem, "delete it")
    run = rgbd_inline(tmp_path, capsys, *RUN[:4], "pixels-euclidean", *RUN[5:],
                      "--output", "out", "--cache", str(reference / "cache"), "--quiet")
    assert run.code == 1 and "Traceback" not in run.err
    assert f"pixels-euclidean fold 0: BenchmarkError: record {shown} is malformed " \
           f"({problem})" in run.err


def test_record_schema_names_the_first_bad_field_and_accepts_extra_ones(reference):
    from benchmark.runs.record_schema import missing_fields, record_problem

    _, record = _record(reference)
    assert missing_fields(record) == [] and record_problem(record) is None
    assert record_problem({**record, "per_query": "fold0.npz", "future": {"x": [1]}}) is None
    setting = next(iter(record["results"]))
    cases = {"fold": (-1, "fold must be an integer >= 0, got -1"),
             "dataset": (3, "dataset must be a non-empty string, got 3"),
             "results": ({}, "results must be an object"),
             "examples": ({setting: [{"query_frame": "3"}]},
                          f"examples.{setting}[0].query_frame must be an integer, got '3'"),
             "config": ({**record["config"], "trials": "3"},
                        "config.trials must be an integer > 0, got '3'")}
    for field, (value, message) in cases.items():
        assert message in record_problem({**record, field: value}), field
    bad = {**record, "results": {**record["results"],
                                 setting: {**record["results"][setting],
                                           "rank5": float("nan")}}}
    assert record_problem(bad) == f"results.{setting}.rank5 must be a number in [0, 1], " \
                                  f"got nan"
    bad["results"][setting]["rank5"] = 1.5
    assert record_problem(bad).endswith("rank5 must be a number in [0, 1], got 1.5")
    assert missing_fields({"fold": 0}) == ["dataset", "method", "results"]


def test_a_run_sweeps_temporaries_that_no_running_writer_owns(tmp_path, capsys, reference):
    import socket

    ended = subprocess.Popen(["true"])
    ended.wait()
    host = socket.gethostname().split(".")[0]
    folder = tmp_path / "out" / "records" / "smoke" / "synthetic" / "pixels-euclidean"
    folder.mkdir(parents=True)
    names = {"dead": f".fold0.json~{host}~{ended.pid}~abc~tmp.json",
             "alive": f".fold1.json~{host}~{os.getpid()}~abc~tmp.json",
             "other-host": f".fold2.json~elsewhere~{ended.pid}~abc~tmp.json",
             "old-chunk": ".tmp-chunk-0a1b.npz", "new-chunk": ".tmp-chunk-2c3d.npz"}
    for name in names.values():
        (folder / name).write_text("partial")
    day_ago = time.time() - 25 * 3600
    os.utime(folder / names["old-chunk"], (day_ago, day_ago))
    run = rgbd_inline(tmp_path, capsys, *RUN[:4], "pixels-euclidean", *RUN[5:],
                      "--output", "out", "--cache", str(reference / "cache"), "--quiet")
    assert run.code == 0, run.err
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == sorted(
        names[k] for k in ("alive", "other-host", "new-chunk"))

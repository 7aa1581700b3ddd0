"""The cluster executor, run through submitit's local backend (no Slurm needed)."""

import dataclasses

import pytest

from benchmark.cli import main
from benchmark.runs.config import load_profile
from benchmark.runs.executors import ClusterOptions, execute
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile
from methods.core.errors import ConfigError

submitit = pytest.importorskip("submitit")


def test_cluster_jobs_write_the_same_records_as_a_local_run(tmp_path):
    """Jobs run in separate processes (submitit's local backend), as on a cluster."""
    profile = load_profile("smoke", ['cluster.backend="local"', "cluster.timeout_min=5",
                                     'run.methods=["pixels-euclidean"]',
                                     "dataset.identities=8", "dataset.frames_per_identity=4"])
    local = run_profile(plan_run(profile), Paths(tmp_path / "local", tmp_path / "cache"),
                        quiet=True)
    remote = execute(plan_run(profile), Paths(tmp_path / "remote", tmp_path / "cache"),
                     "slurm")
    assert [r["results"] for r in remote] == [r["results"] for r in local]
    assert (tmp_path / "remote" / "records" / "smoke" / "synthetic" / "pixels-euclidean"
            / f"fold1-{remote[1]['task_hash']}.json").is_file()
    profile.cluster["backend"] = "debug"
    again = execute(plan_run(profile), Paths(tmp_path / "remote", tmp_path / "cache"),
                    "slurm")
    assert [r["provenance"]["date"] for r in again] == [r["provenance"]["date"]
                                                        for r in remote]


def test_waves_put_requirements_first(toy_profile_file, monkeypatch):
    from methods.core.registry import _REGISTRY, register
    from methods.handcrafted.pixels import PixelsEuclidean

    class NeedsPixels(PixelsEuclidean):
        requires = ("pixels-euclidean",)

    register("needs-pixels-test")(NeedsPixels)
    try:
        profile = load_profile(str(toy_profile_file),
                               ['run.methods=["needs-pixels-test", "pixels-euclidean"]'])
        grouped = plan_run(profile).waves()
        assert [{t.method for t in w} for w in grouped] == [{"pixels-euclidean"},
                                                            {"needs-pixels-test"}]
    finally:
        _REGISTRY.pop("needs-pixels-test")


def test_dry_run_lists_jobs(tmp_path, toy_profile_file, capsys):
    assert main(["run", "--profile", str(toy_profile_file), "--executor", "slurm",
                 "--set", 'cluster.backend="local"', "--dry-run",
                 "--output", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ["wave 0: toy pixels-euclidean fold 0 [slurm]",
                     "wave 0: toy pixels-euclidean fold 1 [slurm]"]


def test_unknown_cluster_key(toy_profile_file):
    with pytest.raises(ConfigError, match="unknown key.*gpus"):
        ClusterOptions.from_profile(load_profile(str(toy_profile_file), ["cluster.gpus=2"]))


def test_cluster_jobs_are_requeued_with_the_same_task(tmp_path, monkeypatch):
    """submitit requeues a preempted or timed-out job by calling its callable's
    ``checkpoint`` with the job's arguments and submitting what it returns."""
    from submitit.helpers import Checkpointable, DelayedSubmission

    submitted = []

    class FakeJob:
        def __init__(self, function, *args):
            self.function, self.args = function, args

        def result(self):
            return self.function(*self.args)

    class FakeExecutor:
        def __init__(self, **_):
            pass

        def update_parameters(self, **_):
            pass

        def map_array(self, function, *columns):
            submitted.extend((function, args) for args in zip(*columns, strict=True))
            return [FakeJob(function, *args) for args in zip(*columns, strict=True)]

    monkeypatch.setattr(submitit, "AutoExecutor", FakeExecutor)
    profile = load_profile("smoke", ['cluster.backend="local"', "run.folds=1",
                                     'run.methods=["pixels-euclidean"]',
                                     "dataset.identities=8", "dataset.frames_per_identity=4"])
    paths = Paths(tmp_path / "out", tmp_path / "cache")
    records = execute(plan_run(profile), paths, "slurm")
    assert [r["method"] for r in records] == ["pixels-euclidean"]
    (function, args), = submitted
    assert isinstance(function, Checkpointable)
    requeued = function.checkpoint(*args)
    assert isinstance(requeued, DelayedSubmission)
    assert requeued.function is function and requeued.args == args
    assert requeued.result()["results"] == records[0]["results"]


def test_gpus_are_read_from_sinfo_gres():
    from benchmark.runs.executors import parse_gpus

    assert [parse_gpus(g) for g in ("(null)", "gpu:4", "gpu:a100:2(S:0-1),gpu:v100:2",
                                     "shard:8,gpu:1")] == [0, 4, 4, 1]


def test_resources_are_checked_against_the_partition(toy_profile_file):
    from benchmark.runs.executors import NodeShape, check_resources

    nodes = [NodeShape("cpu", True, 2, 23000, 0), NodeShape("gpu", False, 16, 64000, 4)]
    options = ClusterOptions.from_profile(load_profile(str(toy_profile_file)))
    with pytest.raises(ConfigError, match="partition 'cpu'.*--set cluster.cpus_per_task=2 "
                                          "--set cluster.mem_gb=22 "
                                          "--set cluster.gpus_per_node=0$"):
        check_resources(options, nodes)
    check_resources(dataclasses.replace(options, partition="gpu"), nodes)
    check_resources(dataclasses.replace(options, gpus_per_node=0, cpus_per_task=2,
                                        mem_gb=20), nodes)
    with pytest.raises(ConfigError, match="'nope' is not a partition.*cpu, gpu"):
        check_resources(dataclasses.replace(options, partition="nope"), nodes)

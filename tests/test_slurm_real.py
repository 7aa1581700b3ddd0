"""``--executor slurm`` on a real single-node Slurm (see ``slurm_cluster.py``), without
accounting; skipped where Slurm is not installed (CI installs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import install_plugin, rgbd, rgbd_env
from slurm_cluster import PARTITION, slurm_cluster, slurm_installed

pytestmark = pytest.mark.skipif(not slurm_installed(), reason="Slurm is not installed")
pytest.importorskip("submitit")

SMALL = ["--profile", "smoke", "--set", "dataset.identities=8",
         "--set", "dataset.frames_per_identity=4", "--folds", "2", "--trials", "2"]
FITS = ["--set", "cluster.gpus_per_node=0", "--set", "cluster.mem_gb=1",
        "--set", "cluster.cpus_per_task=1", "--set", "cluster.timeout_min=10",
        "--set", f'cluster.partition="{PARTITION}"']
SLURM = ["--executor", "slurm", *FITS]
PLUGINS = """
    import os
    import time

    from methods.handcrafted.pixels import PixelsEuclidean
    from methods.core.registry import register

    @register("raising-method")
    class Raising(PixelsEuclidean):
        def embed(self, images, modality):
            raise RuntimeError("boom")

    @register("slow-pixels")
    class Slow(PixelsEuclidean):
        def fit(self, train, val):
            time.sleep(float(os.environ.get("SLOW_PIXELS_S", "0")))
            return super().fit(train, val)
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> dict[str, str]:
    """A running single-node Slurm; the environment its commands need."""
    folder = tmp_path_factory.mktemp("slurm")
    with slurm_cluster(folder) as env:
        yield {"SLURM_CONF": env["SLURM_CONF"],
               "PATH": os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"])}


@pytest.fixture
def plugins(tmp_path) -> Path:
    return install_plugin(tmp_path / "site", "test-plugins", PLUGINS)


def records(output: Path) -> dict[tuple[str, int], dict]:
    """Each record's results under ``output``, by (method, fold)."""
    found = {}
    for path in (output / "records").rglob("fold*.json"):
        record = json.loads(path.read_text())
        found[record["method"], record["fold"]] = record
    return found


def tables(output: Path) -> dict[str, object]:
    """The written tables by name; JSON ones without when and where the runs ran."""
    found: dict[str, object] = {}
    for path in (output / "tables").rglob("*"):
        if path.suffix == ".json":
            found[path.name] = {k: v for k, v in json.loads(path.read_text()).items()
                                if k not in ("runs", "written")}
        elif path.is_file():
            found[path.name] = path.read_bytes()
    return found


def submitted(output: Path) -> int:
    """How many array tasks ``rgbd-bench`` submitted (submitit keeps a folder per task)."""
    return sum(p.is_dir() for p in (output / "jobs").glob("[0-9]*_[0-9]*"))


def squeue(env: dict[str, str]) -> list[tuple[str, str]]:
    done = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T %j"], capture_output=True,
                          text=True, env=dict(os.environ, **env), check=True)
    return [tuple(line.split()[:2]) for line in done.stdout.splitlines()
            if "rgbd-bench" in line]


def start(tmp: Path, cluster: dict[str, str], plugins: Path, *argv: str,
          slow_s: float) -> subprocess.Popen:
    env = rgbd_env(tmp, plugins, {**cluster, "SLOW_PIXELS_S": str(slow_s)})
    return subprocess.Popen([sys.executable, "-m", "benchmark", *argv], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def running(cluster: dict[str, str], timeout: float = 90) -> list[str]:
    """The ids of the jobs once at least one is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = squeue(cluster)
        if any(state == "RUNNING" for _, state in jobs):
            return [job for job, state in jobs if state == "RUNNING"]
        time.sleep(0.5)
    raise AssertionError("no job started running")


def test_resources_that_do_not_fit_fail_in_one_line(tmp_path, cluster):
    for dry in (["--dry-run"], []):
        result = rgbd(tmp_path, "run", *SMALL, "--methods", "pixels-euclidean",
                      "--executor", "slurm", *dry, extra_env=cluster)
        assert result.code == 2, result.err
        assert "Traceback" not in result.err
        line, = result.error_lines()
        assert "no node of partition 'bench'" in line and "cluster.gpus_per_node=0" in line
        assert "cluster.mem_gb=" in line
    result = rgbd(tmp_path, "run", *SMALL, "--methods", "pixels-euclidean", *SLURM,
                  "--set", "cluster.cpus_per_task=9999", "--dry-run", extra_env=cluster)
    assert result.code == 2 and "cluster.cpus_per_task=" in result.error_lines()[0]
    assert rgbd(tmp_path, "run", *SMALL, *SLURM, "--dry-run", extra_env=cluster).code == 0


def test_slurm_run_equals_local_run_and_is_not_resubmitted(tmp_path, cluster):
    methods = ["--methods", "pixels-euclidean,whos-euclidean"]
    local = rgbd(tmp_path, "run", *SMALL, *methods, *FITS, "--output", "local")
    assert local.code == 0, local.err
    remote = rgbd(tmp_path, "run", *SMALL, *methods, *SLURM, "--output", "slurm",
                  extra_env=cluster)
    assert remote.code == 0, remote.err
    assert "sacct" not in remote.err
    mine, theirs = records(tmp_path / "local"), records(tmp_path / "slurm")
    assert sorted(theirs) == sorted(mine) and len(mine) == 4
    assert all(theirs[k]["results"] == mine[k]["results"] for k in mine)
    assert tables(tmp_path / "local") and tables(tmp_path / "slurm") == tables(
        tmp_path / "local")
    jobs = submitted(tmp_path / "slurm")
    assert jobs == 4
    again = rgbd(tmp_path, "run", *SMALL, *methods, *SLURM, "--output", "slurm",
                 extra_env=cluster)
    assert again.code == 0, again.err
    assert submitted(tmp_path / "slurm") == jobs
    assert again.err.count("finished earlier, skipped") == 4


def test_failed_task_is_reported_as_a_local_run_reports_it(tmp_path, cluster, plugins):
    methods = ["--methods", "raising-method,pixels-euclidean"]
    outcomes = {}
    for name, executor in (("local", FITS), ("slurm", SLURM)):
        result = rgbd(tmp_path, "run", *SMALL, *methods, *executor, "--output", name,
                      extra_path=plugins, extra_env=cluster)
        assert result.code == 1, result.err
        assert "Traceback" not in result.err and "tables: " in result.out
        outcomes[name] = [line for line in result.err.splitlines()
                          if "raising-method fold" in line or "task(s) failed" in line]
        assert sorted(records(tmp_path / name)) == [("pixels-euclidean", 0),
                                                    ("pixels-euclidean", 1)]
    assert outcomes["slurm"] == outcomes["local"]
    assert "task failed: raising-method fold 0: RuntimeError: boom" in outcomes["slurm"]


def test_requeued_job_finishes_with_nothing_lost(tmp_path, cluster, plugins):
    driver = start(tmp_path, cluster, plugins, "run", *SMALL, "--methods", "slow-pixels",
                   *SLURM, "--output", "out", "--quiet", slow_s=6)
    first, *_ = running(cluster)
    scontrol = dict(os.environ, **cluster)
    subprocess.run(["scontrol", "requeue", first], env=scontrol, check=True)
    while dict(squeue(cluster)).get(first) != "PENDING":
        time.sleep(0.2)
    # Slurm holds a requeued job back two minutes; the test lets it start at once
    subprocess.run(["scontrol", "update", f"JobId={first}", "StartTime=now"], env=scontrol,
                   check=True)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    assert sorted(records(tmp_path / "out")) == [("slow-pixels", 0), ("slow-pixels", 1)]


def test_cancelled_run_resumes(tmp_path, cluster, plugins):
    argv = ["run", *SMALL, "--methods", "pixels-euclidean,slow-pixels", *SLURM,
            "--output", "out", "--quiet"]
    driver = start(tmp_path, cluster, plugins, *argv, slow_s=30)
    running(cluster)
    while len(records(tmp_path / "out")) < 2:  # the two quick tasks
        time.sleep(0.5)
    subprocess.run(["scancel", "-n", "rgbd-bench-smoke"], env=dict(os.environ, **cluster),
                   check=True)
    out, err = driver.communicate(timeout=120)
    assert driver.returncode == 1, err
    assert "task failed: slow-pixels fold 0: Slurm job" in err and "without a result" in err
    assert submitted(tmp_path / "out") == 4
    again = start(tmp_path, cluster, plugins, *argv, slow_s=0)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert len(records(tmp_path / "out")) == 4
    assert submitted(tmp_path / "out") == 6

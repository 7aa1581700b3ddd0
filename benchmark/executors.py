"""Where tasks run: in this process (``local``) or as Slurm jobs through submitit.

Both run the tasks of a :class:`~benchmark.planner.RunPlan`, grouped into its waves by
dependency depth: a method that reuses another's artifacts (distillation reuses step-I
networks) runs in a later wave than the method it needs. Every job writes its own
record, exactly as a local run does, so a resubmitted run skips what is finished.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import shutil
from dataclasses import dataclass
from typing import Any

from benchmark.config import Profile
from benchmark.errors import ConfigError
from benchmark.planner import RunPlan
from benchmark.runner import Paths, open_dataset, run_profile

log = logging.getLogger("rgbd_bench")
EXECUTORS = ("local", "slurm")


@dataclass(frozen=True)
class ClusterOptions:
    """The profile's ``[cluster]`` section (Slurm resources of one task)."""

    partition: str = ""
    gpus_per_node: int = 1
    cpus_per_task: int = 8
    mem_gb: int = 32
    timeout_min: int = 240
    account: str = ""
    qos: str = ""
    array_parallelism: int = 64
    backend: str = "slurm"

    @classmethod
    def from_profile(cls, profile: Profile) -> ClusterOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(profile.cluster) - known)
        if unknown:
            raise ConfigError(f"{profile.source}: unknown key(s) {unknown} in [cluster]; "
                              f"known: {sorted(known)}")
        options = cls(**profile.cluster)
        if options.backend not in ("slurm", "local", "debug"):
            raise ConfigError(f"{profile.source}: [cluster] backend must be slurm, local or "
                              f"debug, got {options.backend!r}")
        return options


def check_executor(profile: Profile, executor: str) -> None:
    """What the executor needs, checked before any task runs: submitit, the ``[cluster]``
    section and, for Slurm, its ``srun`` command."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    if executor == "local":
        return
    if importlib.util.find_spec("submitit") is None:
        raise ConfigError("the slurm executor needs submitit: pip install -e '.[cluster]'")
    options = ClusterOptions.from_profile(profile)
    if options.backend == "slurm" and shutil.which("srun") is None:
        raise ConfigError("--executor slurm needs Slurm, but srun is not on PATH: run it on "
                          "the cluster's login node, or set [cluster] backend = \"local\" "
                          "to try the executor on this machine")


def run_on_cluster(plan: RunPlan, paths: Paths) -> list[dict[str, Any]]:
    """Submit every wave of the plan's tasks as a job array and wait for it before the
    next wave."""
    profile = plan.profile
    check_executor(profile, "slurm")
    import submitit

    from benchmark.cluster_job import TaskJob

    options = ClusterOptions.from_profile(profile)
    open_dataset(profile, paths)  # build the crop cache once, before any job starts
    plan = plan.with_data(paths.cache)
    executor = submitit.AutoExecutor(folder=str(paths.output / "jobs" / "%j"),
                                     cluster=options.backend)
    parameters: dict[str, Any] = {"timeout_min": options.timeout_min,
                                  "cpus_per_task": options.cpus_per_task,
                                  "name": f"rgbd-bench-{profile.name}"}
    if options.backend == "slurm":
        parameters.update({"slurm_partition": options.partition or None,
                           "gpus_per_node": options.gpus_per_node,
                           "mem_gb": options.mem_gb,
                           "slurm_array_parallelism": options.array_parallelism})
        extra = {k: v for k, v in (("account", options.account), ("qos", options.qos)) if v}
        if extra:
            parameters["slurm_additional_parameters"] = extra
    executor.update_parameters(**{k: v for k, v in parameters.items() if v is not None})
    records = []
    for number, wave in enumerate(plan.waves()):
        log.info("wave %d: submitting %d task(s)", number, len(wave))
        jobs = executor.map_array(TaskJob(), [plan] * len(wave), wave,
                                  [paths] * len(wave))
        records += [job.result() for job in jobs]
    return records


def execute(plan: RunPlan, paths: Paths, executor: str = "local", *, quiet: bool = False,
            force: bool = False) -> list[dict[str, Any]]:
    """Run the plan with the named executor."""
    if executor == "local":
        return run_profile(plan, paths, quiet=quiet, force=force)
    check_executor(plan.profile, executor)
    if force:
        raise ConfigError("--force is only supported with the local executor")
    return run_on_cluster(plan, paths)

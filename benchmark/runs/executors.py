"""Where tasks run: in this process (``local``) or as Slurm jobs through submitit.

Both run the tasks of a :class:`~benchmark.runs.planner.RunPlan`, grouped into its waves by
dependency depth: a method that reuses another's artifacts (distillation reuses step-I
networks) runs in a later wave than the method it needs. Every job writes its own
record, exactly as a local run does, so a resubmitted run skips what is finished.
"""

from __future__ import annotations

import dataclasses
import getpass
import importlib.util
import logging
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from benchmark.runs.config import Profile
from benchmark.runs.planner import RunPlan
from benchmark.runs.runner import (
    Paths,
    TaskFailure,
    TasksFailed,
    debug_enabled,
    open_dataset,
    run_profile,
)
from methods.core.errors import ConfigError

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




@dataclass(frozen=True)
class NodeShape:
    """What one node of a partition offers a job (``sinfo``'s view)."""

    partition: str
    default: bool
    cpus: int
    mem_mb: int
    gpus: int


def parse_gpus(gres: str) -> int:
    """GPUs in ``sinfo``'s ``%G`` (``gpu:4``, ``gpu:a100:2(S:0-1),gpu:v100:2``, ``(null)``)."""
    total = 0
    for item in re.sub(r"\([^)]*\)", "", gres).split(","):
        parts = item.strip().split(":")
        if parts[0] == "gpu" and len(parts) > 1:
            count = re.match(r"\d+", parts[-1])
            total += int(count.group()) if count else 0
    return total


def cluster_nodes() -> list[NodeShape] | None:
    """Every node of every partition as ``sinfo`` reports it; ``None`` when Slurm cannot
    be asked (no ``sinfo``, or its controller does not answer)."""
    if shutil.which("sinfo") is None:
        return None
    try:
        done = subprocess.run(["sinfo", "-N", "-h", "-o", "%P|%c|%m|%G"], capture_output=True,
                              text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    nodes = []
    for line in done.stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 4:
            continue
        partition, cpus, mem, gres = fields
        nodes.append(NodeShape(partition.rstrip("*"), partition.endswith("*"),
                               int(re.sub(r"\D", "", cpus) or 0),
                               int(re.sub(r"\D", "", mem) or 0), parse_gpus(gres)))
    return nodes


def check_resources(options: ClusterOptions, nodes: list[NodeShape]) -> None:
    """Raise :class:`ConfigError` (one line) unless some node of the partition has the
    CPUs, memory and GPUs that ``[cluster]`` asks of one task."""
    partitions = sorted({n.partition for n in nodes})
    if options.partition:
        name = options.partition
        if name not in partitions:
            raise ConfigError(f"[cluster] partition = {name!r} is not a partition of this "
                              f"cluster; sinfo lists: {', '.join(partitions) or 'none'}")
    else:
        defaults = sorted({n.partition for n in nodes if n.default})
        if not defaults:
            return  # no default partition: sbatch says what it needs
        name = defaults[0]
    shapes = [n for n in nodes if n.partition == name]
    asked = (options.cpus_per_task, options.mem_gb * 1024, options.gpus_per_node)
    if any(n.cpus >= asked[0] and n.mem_mb >= asked[1] and n.gpus >= asked[2]
           for n in shapes):
        return
    most = (max(n.cpus for n in shapes), max(n.mem_mb for n in shapes),
            max(n.gpus for n in shapes))
    keys = ("cpus_per_task", "mem_gb", "gpus_per_node")
    offered = (most[0], most[1] // 1024, most[2])
    short = [f"cluster.{k}={o}" for k, a, m, o in zip(keys, asked, most, offered, strict=True)
             if a > m] or [f"cluster.{k}=..." for k in keys]
    raise ConfigError(
        f"[cluster] asks each task for {options.cpus_per_task} CPU(s), {options.mem_gb} GB "
        f"and {options.gpus_per_node} GPU(s), but no node of partition {name!r} has that "
        f"(at most {most[0]} CPU(s), {most[1] / 1024:.0f} GB, {most[2]} GPU(s)); "
        f"set e.g. {' '.join('--set ' + s for s in short)}")


def check_executor(profile: Profile, executor: str) -> None:
    """What the executor needs, checked before any task runs: submitit, the ``[cluster]``
    section and, for Slurm, its ``srun`` command and a node that fits one task (when
    ``sinfo`` answers)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; expected one of {EXECUTORS}")
    if executor == "local":
        return
    if importlib.util.find_spec("submitit") is None:
        raise ConfigError("the slurm executor needs submitit: pip install -e '.[cluster]'")
    options = ClusterOptions.from_profile(profile)
    if options.backend != "slurm":
        return
    if shutil.which("srun") is None:
        raise ConfigError("--executor slurm needs Slurm, but srun is not on PATH: run it on "
                          "the cluster's login node, or set [cluster] backend = \"local\" "
                          "to try the executor on this machine")
    nodes = cluster_nodes()
    if nodes is None:
        log.warning("sinfo did not answer: the [cluster] resources are not checked against "
                    "the cluster's nodes")
    elif nodes:
        check_resources(options, nodes)


# Slurm job states after which a job runs no more (squeue keeps them MinJobAge seconds).
ENDED = {"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
         "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "SPECIAL_EXIT", "TIMEOUT"}
# How long a job may be ended or unknown to squeue without its result file appearing
# (a shared filesystem's delay), and how long squeue itself may fail, before giving up.
GONE_GRACE_S = 20.0
SQUEUE_DOWN_S = 600.0


def queue_states() -> dict[str, str] | None:
    """``{job id: state}`` of this user's jobs (array tasks as ``<array>_<index>``) that
    the controller still knows; ``None`` when squeue fails. Needs no accounting."""
    try:
        done = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-u", getpass.getuser(),
                               "-o", "%i|%T"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return dict(line.strip().split("|", 1) for line in done.stdout.splitlines()
                if "|" in line)


def one_line(error: BaseException) -> str:
    """An exception in one line: its type and the first line that says something."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def wait_on_slurm(jobs: list[Any], poll_s: float = 2.0) -> dict[str, str]:
    """Wait until each Slurm job has its result file or has ended without one; returns
    ``{job id: one-line reason}`` of those that ended without one.

    The state comes from ``squeue``, not from accounting (``sacct``), so a cluster without
    accounting works; a job that has ended, or that squeue no longer knows, for
    :data:`GONE_GRACE_S` without a result is given up on, as is every job when squeue
    fails for :data:`SQUEUE_DOWN_S`.
    """
    waiting = {str(job.job_id): job for job in jobs}
    gone: dict[str, str] = {}
    since: dict[str, float] = {}
    down_since: float | None = None
    started = time.monotonic()
    while waiting:
        for name, job in list(waiting.items()):
            if job.paths.result_pickle.exists():
                del waiting[name]
        if not waiting:
            break
        states = queue_states()
        now = time.monotonic()
        if states is None:
            down_since = down_since or now
            if now - down_since > SQUEUE_DOWN_S:
                gone.update({name: f"squeue has failed for {SQUEUE_DOWN_S:.0f} s; job "
                                   f"{name} left no result" for name in waiting})
                break
        else:
            down_since = None
            for name, job in list(waiting.items()):
                state = states.get(name, "")
                if state and state.split()[0] not in ENDED:
                    since.pop(name, None)
                    continue
                if now - since.setdefault(name, now) > GONE_GRACE_S:
                    how = (f"ended {state}" if state else "is gone from the queue (its "
                           "state is unknown without accounting)")
                    gone[name] = f"Slurm job {name} {how} without a result; see {job.paths.stderr}"
                    del waiting[name]
        if waiting:
            time.sleep(min(30.0, poll_s + (time.monotonic() - started) / 20))
    return gone


def run_on_cluster(plan: RunPlan, paths: Paths) -> list[dict[str, Any]]:
    """Submit every wave of the plan's tasks as a job array and wait for it before the
    next wave.

    Tasks whose current record exists are not submitted; a task that fails (it raised,
    or its job ended without a result) is reported as the local executor reports it,
    the tasks that need it are skipped, the others go on, and :class:`TasksFailed` is
    raised at the end. Ctrl-C or SIGTERM stops the waiting, not the submitted jobs.
    """
    profile = plan.profile
    import submitit

    from benchmark.runs.cluster_job import TaskJob

    options = ClusterOptions.from_profile(profile)
    open_dataset(profile, paths)  # build the crop cache once, before any job starts
    plan = plan.with_data(paths.cache)
    store = paths.record_store(profile)
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
    records: dict[tuple[str, int], dict[str, Any]] = {}
    failures: dict[tuple[str, int], TaskFailure] = {}

    def fail(failure: TaskFailure, kind: str = "failed") -> None:
        failures[failure.task.key] = failure
        log.error("task %s: %s", kind, failure.line())
        if failure.trace and debug_enabled():
            log.error("%s", failure.trace.rstrip())

    try:
        for number, wave in enumerate(plan.waves()):
            todo = []
            for task in wave:
                needed = [failures[t.key] for t in task.needs if t.key in failures]
                existing = store.read(profile.run.dataset, task.method, task.fold,
                                      task.identity)
                if needed:
                    fail(TaskFailure(task, f"skipped: needs {needed[0].task.method}, which "
                                           f"failed"), "skipped")
                elif task.is_current(existing):
                    log.info("%s fold %d: finished earlier, skipped", task.method, task.fold)
                    records[task.key] = existing
                else:
                    todo.append(task)
            if not todo:
                continue
            log.info("wave %d: submitting %d task(s)", number, len(todo))
            try:
                submitted = executor.map_array(TaskJob(), [plan] * len(todo), todo,
                                               [paths] * len(todo))
            except Exception as error:  # sbatch refused: say why in one line
                reason = [line for line in str(error).splitlines() if "error" in line]
                raise ConfigError(f"Slurm refused the jobs of wave {number}: "
                                  f"{(reason or [one_line(error)])[0].strip()}") from error
            lost = wait_on_slurm(submitted) if options.backend == "slurm" else {}
            for task, job in zip(todo, submitted, strict=True):
                if lost and str(job.job_id) in lost:
                    fail(TaskFailure(task, lost[str(job.job_id)]))
                    continue
                try:
                    outcome = job.result()
                except Exception as error:  # the job broke outside the task
                    outcome = TaskFailure(task, one_line(error), trace=str(error))
                if isinstance(outcome, TaskFailure):
                    fail(outcome)
                else:
                    records[task.key] = outcome
    except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: say how far the run got
        stop.progress = (len(records), len(plan.tasks))
        raise
    done = [records[t.key] for t in plan.tasks if t.key in records]
    if failures:
        raise TasksFailed([failures[t.key] for t in plan.tasks if t.key in failures], done)
    return done


def execute(plan: RunPlan, paths: Paths, executor: str = "local", *, quiet: bool = False,
            force: bool = False) -> list[dict[str, Any]]:
    """Run the plan with the named executor."""
    if executor == "local":
        return run_profile(plan, paths, quiet=quiet, force=force)
    check_executor(plan.profile, executor)
    if force:
        raise ConfigError("--force is only supported with the local executor")
    return run_on_cluster(plan, paths)

"""What one Slurm job runs: one task, requeued by submitit when preempted or timed out.

submitit's Slurm jobs ask for ``--signal=USR2@90``: USR2 comes 90 s before the time
limit, and on preemption where the cluster sends the job's signal then. On USR2,
submitit calls :meth:`TaskJob.checkpoint` (``submitit.helpers.Checkpointable``'s: the
same callable with the same arguments), stores that submission and runs ``scontrol
requeue``, so the task starts again from its beginning under the same job id. Nothing
finished is lost: trained networks and extracted features in the shared cache are
loaded instead of recomputed, and a task whose record exists is a no-op. A preempted
job is requeued every time, a timed-out one at most ``max_num_timeout`` times (3,
submitit's default); SIGTERM alone is only logged by submitit. Needs the ``cluster``
extra.
"""

from __future__ import annotations

from typing import Any

from submitit.helpers import Checkpointable

from benchmark.planner import ResolvedTask, RunPlan
from benchmark.runner import Paths, run_task


class TaskJob(Checkpointable):
    """``TaskJob()(plan, task, paths)`` runs the plan's task and returns its record."""

    def __call__(self, plan: RunPlan, task: ResolvedTask, paths: Paths) -> dict[str, Any]:
        return run_task(plan, task, paths, quiet=True)

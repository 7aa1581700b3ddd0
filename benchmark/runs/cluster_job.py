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

A task that raises does not fail its job: the job returns a
:class:`~benchmark.runs.runner.TaskFailure`, which the driver reports as the local executor
reports a failed task.
"""

from __future__ import annotations

import traceback
from typing import Any

from submitit.helpers import Checkpointable

from benchmark.datasets.base import get_dataset
from benchmark.runs.planner import ResolvedTask, RunPlan
from benchmark.runs.runner import Paths, TaskFailure, failure_reason, run_task


class TaskJob(Checkpointable):
    """``TaskJob()(plan, task, paths)`` runs the plan's task and returns its record, or
    the :class:`TaskFailure` that says why it failed."""

    def __call__(self, plan: RunPlan, task: ResolvedTask, paths: Paths
                 ) -> dict[str, Any] | TaskFailure:
        try:
            return run_task(plan, task, paths, quiet=True)
        except Exception as error:  # reported by the driver, as a local run reports it
            trace = traceback.format_exc()
            profile = plan.profile
            dataset = get_dataset(profile.run.dataset, **profile.dataset)
            return TaskFailure(task, failure_reason(error, paths, dataset, profile, task),
                               trace)

"""A run's rankings in TVRID's submission format (``rgbd-bench export-rankings``).

For every method and fold of the plan, the method is fitted on the fold (stored networks
and features are loaded, so run the profile first) and its test passages are ranked as
:mod:`benchmark.evaluation.protocol_tvrid` ranks them; each TVRID track the method's
settings cover is written as ``<to>/<method>/fold<k>/rankings_<track>.csv``, the files
their submission zip holds (``README.md`` "Submission packaging" of ``RaphaelDel/ICPR-TVRID``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.datasets.base import get_dataset
from benchmark.evaluation.protocol_tvrid import (
    TRACKS,
    check_supports_passages,
    passage_distances,
    write_submission,
)
from benchmark.runs.planner import RunPlan
from benchmark.runs.runner import Paths, fit_and_embed, open_dataset
from methods.core.errors import ConfigError

log = logging.getLogger("rgbd_bench")


def export_rankings(plan: RunPlan, paths: Paths, to: Path, *, quiet: bool = False
                    ) -> list[Path]:
    """Write the submission CSVs of every (method, fold) of the plan; returns their paths."""
    profile = plan.profile
    check_supports_passages(get_dataset(profile.run.dataset, **profile.dataset))
    opened = open_dataset(profile, paths)
    plan = plan.with_data(paths.cache)
    written = []
    for task in plan.tasks:
        if task.method not in profile.run.methods:
            continue  # a task only needed by another method
        fitted = fit_and_embed(plan, task, paths, opened, quiet=quiet)
        settings = type(fitted.matcher).settings
        tracks = {t: s for t, s in TRACKS.items() if s in settings}
        if not tracks:
            raise ConfigError(f"{task.method} has none of TVRID's settings "
                              f"({', '.join(f'{q}->{g}' for q, g in TRACKS.values())})")
        passages = fitted.dataset.passages(fitted.test)
        for track, (query, gallery) in tracks.items():
            distmat, first = passage_distances(
                fitted.embeddings[query], fitted.embeddings[gallery], fitted.test.pids,
                passages, fitted.matcher.distance)
            path = to / task.method / f"fold{task.fold}" / f"rankings_{track}.csv"
            written.append(write_submission(path, distmat, passages.ids[first],
                                            passages.paths[first]))
            log.info("%s fold %d: %s track -> %s", task.method, task.fold, track, path)
    return written

"""A run's folds as an open-reid ``splits.json`` beside its records, to publish with them.

``<output>/records/<profile>/<dataset>/splits.json`` lists, per fold, the ``train``,
``val``, ``trainval`` and ``query`` (= ``gallery``) identities under the data set's own
names (a manifest's ``person_id``s), so that the file can be published with the numbers
and read back as a manifest's ``split_source = "splits-json"``.
"""

from __future__ import annotations

from pathlib import Path

from benchmark.datasets.base import cached_frames, get_dataset
from benchmark.evaluation.splits import open_reid_split
from benchmark.runs.config import Profile
from methods.core.atomic import write_json_atomic


def write_splits(profile: Profile, output: Path, cache: Path) -> Path | None:
    """Write the run's folds beside its records under ``output``; ``None`` when no crops
    were built in ``cache``."""
    dataset = get_dataset(profile.run.dataset, **profile.dataset)
    size = (profile.run.image_size[0], profile.run.image_size[1])
    frames = cached_frames(dataset, size, cache)
    if frames is None:
        return None
    folds = dataset.folds(frames, profile.run.folds, profile.run.seed)
    naming = getattr(dataset, "identity_names", None)
    names = naming() if callable(naming) else None
    path = Path(output) / "records" / profile.name / dataset.name / "splits.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, [open_reid_split(f, names) for f in folds])
    return path

"""TVRID (ICPR 2026 top-view RGB-D re-identification), read from its extracted archive.

Layout, as the organisers' baseline reads it (``RaphaelDel/ICPR-TVRID``, ``README.md``
"Data download and layout" and ``utils/data.py``)::

    <root>/train_labels.csv         gallery_id, person_id, cam_name, cam_id, passage_name,
    <root>/public_test_labels.csv   passage_id, path (one row per passage)
    <root>/train/<path>/            one passage: <stem>_RGB.png and <stem>_depth.png frames
    <root>/test_public/<path>/      (300x300 depth-guided crops)

``path`` is relative to ``train/`` or ``test_public/`` (``utils/data.py:36-37,99,134-135``).
A passage's frames are the stems before ``_RGB`` / ``_depth`` found in both modalities,
sorted (``utils/data.py:137-149``); its files are ``<stem>_RGB.png`` or
``<stem>_RGB_person.png`` and ``<stem>_depth.png``, ``<stem>_depth_depth.png`` or
``<stem>_D.png`` (``utils/data.py:195,205``). ``frames_per_passage = 1`` keeps the middle
frame, as the baseline's default sequence length of 1 (``utils/data.py:17,151-155``);
n > 1 keeps n evenly spaced ones (``:160``); 0 keeps all.

Every kept frame becomes a manifest row (:mod:`benchmark.datasets.manifest`): the same
checks, crops and pairing. Identities: ``person_id``; sequences: ``cam_id``. Folds: the
public test identities are the test set, the training identities train and a seeded
validation share of them (``column`` split source); the competition's hidden test set is
not part of the archive.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.datasets.manifest import ManifestDataset, ManifestOptions, bad_rows
from benchmark.datasets.real import check_choice
from benchmark.evaluation.protocol_tvrid import Passages
from methods.core.errors import ConfigError, DatasetError
from methods.core.frames import PairedFrames

LABELS = (("train_labels.csv", "train", "train"), ("public_test_labels.csv", "test_public",
                                                   "test"))
COLUMNS = ("gallery_id", "person_id", "cam_name", "cam_id", "passage_name", "passage_id",
           "path")
RGB_SUFFIXES = ("_RGB.png", "_RGB_person.png")
DEPTH_SUFFIXES = ("_depth.png", "_depth_depth.png", "_D.png")


@dataclass(frozen=True)
class TvridOptions(ManifestOptions):
    """Options of the ``tvrid`` data set (and those of the manifest's).

    root: the extracted "Extracted" archive (``DB_extracted``: the two label files,
        ``train/`` and ``test_public/``).
    frames_per_passage: 1 = the middle frame (the baseline's default), n = n evenly
        spaced frames, 0 = every frame.
    """

    split_source: str = "column"
    frames_per_passage: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("split_source", self.split_source, ("column", "generate"),
                     "; TVRID's split is its train and public test label files")
        if self.frames_per_passage < 0:
            raise ConfigError(f"frames_per_passage must be >= 0, got "
                              f"{self.frames_per_passage}")


def passage_stems(folder: Path, count: int) -> list[str]:
    """The frame stems of one passage kept for ``count`` (see the module docstring)."""
    files = os.listdir(folder)
    stems = sorted({f.split("_depth")[0] for f in files if "_depth" in f}
                   & {f.split("_RGB")[0] for f in files if "_RGB" in f})
    if count == 0 or not stems:
        return stems
    if count == 1:
        return [stems[len(stems) // 2]]
    return [stems[i] for i in np.linspace(0, len(stems) - 1, num=count, dtype=int)]


def first_file(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """The first ``<stem><suffix>`` that exists, in the baseline's order."""
    return next((folder / f"{stem}{s}" for s in suffixes if (folder / f"{stem}{s}").is_file()),
                None)


def read_labels(path: Path) -> pd.DataFrame:
    """A TVRID label file with its line numbers; DatasetError names missing columns."""
    try:
        labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    missing = [c for c in COLUMNS if c not in labels.columns]
    if missing:
        raise DatasetError(f"{path} lacks the column(s) {missing}; TVRID label files have "
                           f"{list(COLUMNS)}")
    return labels.assign(line=np.arange(len(labels)) + 2)


class TvridDataset(ManifestDataset):
    """TVRID's extracted archive; folds: its train and public test identities."""

    name = "tvrid"
    Options = TvridOptions
    obtain = ("TVRID is downloaded from Zenodo (record 17909410, the 'Extracted' zip); see "
              "docs/tvrid.md.")

    def expected(self) -> str:
        return "train_labels.csv, public_test_labels.csv, train/ and test_public/"

    def layout(self, root: Path) -> str:
        absent = [name for name, folder, _ in LABELS
                  if not (root / name).is_file() or not (root / folder).is_dir()]
        if absent:
            raise DatasetError(f"{root} is not an extracted TVRID archive: no {absent[0]} or "
                               f"its folder; point root at the folder holding "
                               f"{self.expected()} (docs/tvrid.md)")
        return "extracted"

    def manifest_table(self, root: Path) -> tuple[pd.DataFrame, str, bytes]:
        """The kept frames of every passage as manifest rows (line = the label file's)."""
        self.layout(root)
        rows, problems, content = [], [], b""
        for name, folder, split in LABELS:
            content += (root / name).read_bytes()
            for r in read_labels(root / name).itertuples():
                line, passage = f"{r.line} of {name}", root / folder / r.path
                stems = passage_stems(passage, self.options.frames_per_passage) \
                    if passage.is_dir() else []
                if not stems:
                    problems.append(f"line {line} ({folder}/{r.path}): no passage folder with "
                                    f"_RGB and _depth frames")
                for stem in stems:
                    for modality, suffixes in (("rgb", RGB_SUFFIXES), ("depth", DEPTH_SUFFIXES)):
                        found = first_file(passage, stem, suffixes)
                        rows.append({"person_id": r.person_id, "modality": modality,
                                     "path": str((found or passage / (stem + suffixes[0]))
                                                 .relative_to(root)),
                                     "camera": r.cam_id, "sequence": r.passage_id,
                                     "frame": f"{r.gallery_id}/{stem}", "split": split,
                                     "line": line, "gallery_id": r.gallery_id,
                                     "cam_name": r.cam_name,
                                     "passage_name": r.passage_name, "passage": r.path})
        if problems:
            raise bad_rows(problems, str(root))
        table = pd.DataFrame(rows)
        return table, str(root), content

    def sequence_columns(self) -> tuple[str, ...]:
        return ("camera",)

    def passages(self, frames: PairedFrames) -> Passages:
        """Each frame's passage: its label row's ``gallery_id``, ``cam_name``,
        ``passage_name`` and ``path`` (the protocol's and the submission's keys)."""
        rows = self.records.rows.iloc[np.asarray(frames.frames)]
        return Passages(*(rows[c].to_numpy(str) for c in ("gallery_id", "cam_name",
                                                           "passage_name", "passage")))

"""TVRID's evaluation (ICPR 2026), as the organisers' scoring code computes it.

From ``RaphaelDel/ICPR-TVRID``:

- Ranking (``eval_generate.py:13-17,96-120``): every passage is a query and a gallery item;
  track ``rgb`` ranks RGB against RGB, ``depth`` depth against depth, ``cross`` a passage's
  RGB against every passage's depth. The query's own passage (same ``gallery_id``) is left
  out, so in ``cross`` its own depth image is not in its gallery (our twin exclusion).
- Scenarios (``eval_score.py:7-8,75-118``): each query's list is filtered, then re-ranked:
  ``same_cam_cross_passage`` (same camera name, other passage name),
  ``up_down_cross_passage`` (one camera ``upward``, the other ``downward``, other passage
  name), ``flat_vs_others`` (one camera ``flat``, the other not, other passage name);
  ``global`` keeps everything (commented out of their default list, ``:7``).
- Metrics (``eval_score.py:121-165``): a query with no true match left is skipped; CMC@k is
  the share of the other queries whose first true match is within rank k; AP is the sum of
  precisions at the true matches over their number (the non-interpolated AP of
  :func:`benchmark.metrics.evaluate`); mAP its mean.

Their ranking sorts with ``torch.argsort`` (ties in no defined order); ours is pessimistic
on ties (:mod:`benchmark.metrics`), which changes nothing for distinct distances. The
server's ``scoring.py`` (``overallMap``) is not in the repository and is not modelled.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from benchmark.metrics import evaluate

TRACKS = {"rgb": ("rgb", "rgb"), "depth": ("depth", "depth"), "cross": ("rgb", "depth")}
SCENARIOS = ("global", "same_cam_cross_passage", "up_down_cross_passage", "flat_vs_others")
SUBMISSION_COLUMNS = ("query_gallery_id", "query_path", "gallery_id", "gallery_path", "rank",
                      "distance")


def scenario_pairs(scenario: str, cams: np.ndarray, passages: np.ndarray) -> np.ndarray:
    """(n, n) bool: the (query, gallery) passage pairs a scenario keeps (``cams`` are
    camera names, ``passages`` passage names such as IN / OUT)."""
    cams, passages = np.asarray(cams).astype(str), np.asarray(passages).astype(str)
    other_passage = passages[:, None] != passages[None, :]
    if scenario == "global":
        return np.ones(other_passage.shape, dtype=bool)
    if scenario == "same_cam_cross_passage":
        return (cams[:, None] == cams[None, :]) & other_passage
    if scenario == "up_down_cross_passage":
        up, down = cams == "upward", cams == "downward"
        return ((up[:, None] & down[None, :]) | (down[:, None] & up[None, :])) & other_passage
    if scenario == "flat_vs_others":
        flat = cams == "flat"
        return (flat[:, None] != flat[None, :]) & other_passage
    raise ValueError(f"unknown TVRID scenario {scenario!r}; expected one of {SCENARIOS}")


def tvrid_scores(distmat: np.ndarray, pids: np.ndarray, cams: np.ndarray,
                 passages: np.ndarray, scenarios: tuple[str, ...] = SCENARIOS
                 ) -> dict[str, dict[str, float]]:
    """CMC@1/5/10 and mAP per scenario of one track's passage x passage distances; a
    scenario where no query has a true match scores mAP 0 and no CMC, as theirs.

    ``distmat`` (n, n): row i = passage i's query embedding against every passage's gallery
    embedding (same passage order); the diagonal (the query's own passage) never counts.
    """
    own = np.eye(len(pids), dtype=bool)
    pids = np.asarray(pids)
    scores = {}
    for s in scenarios:
        exclude = own | ~scenario_pairs(s, cams, passages)
        if not ((pids[:, None] == pids[None, :]) & ~exclude).any():
            scores[s] = {"mAP": 0.0, "num_valid": 0}  # as theirs: mAP 0, no CMC (:163-164)
            continue
        scores[s] = evaluate(distmat, pids, pids, exclude=exclude)
    return scores


def submission_rows(distmat: np.ndarray, ids: np.ndarray, paths: np.ndarray) -> pd.DataFrame:
    """Rankings in TVRID's submission format: every query passage against every other
    passage, nearest first, ranks from 1 (``eval_generate.py:96-120``)."""
    ids, paths = np.asarray(ids).astype(str), np.asarray(paths).astype(str)
    n = len(ids)
    masked = np.where(np.eye(n, dtype=bool), np.inf, np.asarray(distmat, dtype=np.float64))
    order = np.argsort(masked, axis=1, kind="stable")[:, :n - 1]
    query = np.repeat(np.arange(n), n - 1)
    gallery = order.ravel()
    return pd.DataFrame({"query_gallery_id": ids[query], "query_path": paths[query],
                         "gallery_id": ids[gallery], "gallery_path": paths[gallery],
                         "rank": np.tile(np.arange(1, n), n),
                         "distance": masked[query, gallery]})


def write_submission(path: str | Path, distmat: np.ndarray, ids: np.ndarray,
                     paths: np.ndarray) -> Path:
    """Write one track's ``rankings_<track>.csv`` (columns :data:`SUBMISSION_COLUMNS`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    submission_rows(distmat, ids, paths).to_csv(path, index=False)
    return path

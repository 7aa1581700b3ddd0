"""TVRID's evaluation (ICPR 2026), as the organisers' ranking and scoring code computes it.

From ``RaphaelDel/ICPR-TVRID``:

- Items (``eval_generate.py:13-17,96-124``, ``utils/data.py:230-249``): one item per
  passage (a label file row, ``gallery_id``); every passage is a query and a gallery item.
  A passage of several frames is embedded as the mean of its frames' embeddings (their
  encoders average over the sequence, ``utils/models.py:64,96``). Track ``rgb`` ranks RGB
  against RGB, ``depth`` depth against depth, ``cross`` a passage's RGB against every
  passage's depth.
- Ranking (``eval_generate.py:103-123``): a query's gallery is every passage but its own
  (same ``gallery_id``; in ``cross`` its own depth image is not in its gallery, our twin
  exclusion), sorted by distance, ranks from 1. Their ``torch.argsort`` leaves ties in no
  defined order; ours keeps the passages' order (a stable sort), and the metrics below are
  computed from that very ranking, so scoring our exported rankings
  (:func:`write_submission`) with their ``eval_score.py`` gives our numbers.
- Scenarios (``eval_score.py:7-8,75-118``): each query's list is filtered, then re-ranked:
  ``same_cam_cross_passage`` (same camera name, other passage name),
  ``up_down_cross_passage`` (one camera ``upward``, the other ``downward``, other passage
  name), ``flat_vs_others`` (one camera ``flat``, the other not, other passage name);
  ``global`` keeps everything (``:87-88``; commented out of their default list, ``:7``).
- Metrics (``eval_score.py:121-165``): a query with no true match left is skipped; CMC@k is
  the share of the other queries whose first true match is within rank k; AP is the sum of
  precisions at the true matches over their number; mAP its mean; a scenario where no
  query has a true match scores mAP 0 and no CMC (``:163-164``).

As a run's protocol (``[run] protocol = "tvrid"``), a setting's ``rank1/5/10`` and ``mAP``
are the ``global`` scenario's and ``scenarios`` holds every scenario's; the ranking is
deterministic, so there is one trial. The server's ``scoring.py`` (``overallMap``) is not in
the repository and is not modelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.evaluation.outcomes import QueryOutcomes
from methods.core.errors import ConfigError

TRACKS = {"rgb": ("rgb", "rgb"), "depth": ("depth", "depth"), "cross": ("rgb", "depth")}
SCENARIOS = ("global", "same_cam_cross_passage", "up_down_cross_passage", "flat_vs_others")
HEADLINE = "global"
CMC_RANKS = (1, 5, 10)
SUBMISSION_COLUMNS = ("query_gallery_id", "query_path", "gallery_id", "gallery_path", "rank",
                      "distance")
Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Passages:
    """Each item's passage: its ``gallery_id`` (``ids``), camera name, passage name (IN /
    OUT) and folder (``paths``, as the label file writes it); arrays of one length."""

    ids: np.ndarray
    cams: np.ndarray
    names: np.ndarray
    paths: np.ndarray

    def __post_init__(self) -> None:
        lengths = {len(self.ids), len(self.cams), len(self.names), len(self.paths)}
        if len(lengths) != 1:
            raise ValueError(f"passage ids, cameras, names and paths differ in length: "
                             f"{sorted(lengths)}")

    def first_items(self) -> tuple[np.ndarray, np.ndarray]:
        """(each item's passage number, each passage's first item), passages numbered in
        the order they first appear."""
        codes, _ = pd.factorize(pd.Series(np.asarray(self.ids).astype(str)))
        first = np.unique(codes, return_index=True)[1]
        return codes.astype(np.int64), first.astype(np.int64)


def check_supports_passages(dataset: Any) -> None:
    """ConfigError unless ``dataset`` says which passage each of its frames belongs to."""
    if not callable(getattr(dataset, "passages", None)):
        raise ConfigError(f"[run] protocol = 'tvrid' ranks passages; data set "
                          f"{dataset.name!r} has none (use --dataset tvrid or manifest)")


def passage_embeddings(embeddings: np.ndarray, codes: np.ndarray, first: np.ndarray
                       ) -> np.ndarray:
    """One row per passage: the mean of its items' rows (a one-item passage: its row)."""
    embeddings = np.asarray(embeddings)
    if len(first) == len(codes):
        return embeddings[first]
    total = np.zeros((len(first), embeddings.shape[1]), dtype=np.float64)
    np.add.at(total, codes, embeddings)
    return (total / np.bincount(codes)[:, None]).astype(embeddings.dtype)


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


def ranking(distmat: np.ndarray) -> np.ndarray:
    """(n, n - 1): each query passage's gallery passages, nearest first, its own left out;
    ties keep the passages' order (``eval_generate.py:103-123``)."""
    distmat = np.asarray(distmat, dtype=np.float64)
    if distmat.ndim != 2 or distmat.shape[0] != distmat.shape[1]:
        raise ValueError(f"a passage x passage distance matrix is square, got {distmat.shape}")
    if np.isnan(distmat).any():
        raise ValueError("distmat contains NaN")
    n = len(distmat)
    order = np.argsort(distmat, axis=1, kind="stable")
    return order[order != np.arange(n)[:, None]].reshape(n, n - 1)


def ranked_hits(order: np.ndarray, pids: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """(n, n - 1) bool: a true match at each rank of the re-ranked list that keeps only
    ``kept`` pairs (their ``filter_and_rerank``): kept items first, in ranking order."""
    pids = np.asarray(pids)
    keep = np.take_along_axis(kept, order, axis=1)
    rerank = np.argsort(~keep, axis=1, kind="stable")
    hits = (pids[order] == pids[:, None]) & keep
    return np.take_along_axis(hits, rerank, axis=1)


def scenario_outcomes(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per query: the 0-based rank of its first true match (-1 without one) and its AP
    (NaN without one), as ``eval_score.py:121-162``."""
    positives = hits.sum(axis=1)
    found = positives > 0
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):  # summed left to right, as theirs
        ap = np.cumsum(precision * hits, axis=1)[:, -1] / positives
    return np.where(found, hits.argmax(axis=1), -1), np.where(found, ap, np.nan)


def summary(first: np.ndarray, ap: np.ndarray, ids: np.ndarray) -> dict[str, float]:
    """CMC@1/5/10 and mAP over the queries with a true match; mAP 0 and no CMC without
    any (``eval_score.py:163-164``). The APs are summed left to right in the order of the
    queries' ``gallery_id`` text (``ids``), as their scorer visits them (``:71,117,130``),
    so that the mean is theirs to the last bit."""
    counted = first >= 0
    if not counted.any():
        return {"mAP": 0.0, "num_valid": 0}
    scores: dict[str, float] = {f"rank{k}": float(np.mean(first[counted] < k))
                                for k in CMC_RANKS}
    visit = np.argsort(np.asarray(ids).astype(str)[counted], kind="stable")
    scores["mAP"] = float(np.cumsum(ap[counted][visit])[-1] / counted.sum())
    scores["num_valid"] = int(counted.sum())
    return scores


def scenario_results(distmat: np.ndarray, pids: np.ndarray, cams: np.ndarray,
                     names: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per scenario, each query passage's first-match rank and AP (:func:`scenario_outcomes`)
    from one track's passage x passage distances.

    ``distmat`` (n, n): row i = passage i's query embedding against every passage's gallery
    embedding (same passage order); the diagonal (the query's own passage) never counts.
    ``cams`` and ``names`` are the passages' camera and passage names.
    """
    order = ranking(distmat)
    return {s: scenario_outcomes(ranked_hits(order, pids, scenario_pairs(s, cams, names)))
            for s in SCENARIOS}


def tvrid_scores(distmat: np.ndarray, pids: np.ndarray, cams: np.ndarray,
                 names: np.ndarray, ids: np.ndarray) -> dict[str, dict[str, float]]:
    """CMC@1/5/10 and mAP per scenario (:func:`scenario_results`); ``ids`` are the
    passages' ``gallery_id``s."""
    return {s: summary(*outcome, ids)
            for s, outcome in scenario_results(distmat, pids, cams, names).items()}


def passage_distances(query_emb: np.ndarray, gallery_emb: np.ndarray, pids: np.ndarray,
                      passages: Passages, distance: Distance) -> tuple[np.ndarray, np.ndarray]:
    """(passage x passage distances, each passage's first item) of items embedded as
    queries and as gallery; a passage's embedding is the mean of its items'."""
    pids = np.asarray(pids)
    if not len(query_emb) == len(gallery_emb) == len(pids) == len(passages.ids):
        raise ValueError("the tvrid protocol needs the same items as queries and gallery, "
                         "each with its passage")
    codes, first = passages.first_items()
    mixed = pd.Series(pids).groupby(codes).nunique() > 1
    if mixed.any():
        raise ValueError(f"passage {passages.ids[first[mixed.idxmax()]]!r} holds frames of "
                         f"more than one identity")
    distmat = np.asarray(distance(passage_embeddings(query_emb, codes, first),
                                  passage_embeddings(gallery_emb, codes, first)),
                         dtype=np.float64)
    return distmat, first


def tvrid_protocol(query_emb: np.ndarray, gallery_emb: np.ndarray, pids: np.ndarray,
                   passages: Passages, distance: Distance) -> dict[str, Any]:
    """One setting's TVRID scores from item embeddings (query and gallery: the same items,
    in the two modalities), in the shape of
    :func:`benchmark.evaluation.protocol.single_shot`'s result.

    Returns ``rank1/5/10`` and ``mAP`` of the ``global`` scenario, ``map_queries``,
    ``scenarios`` (every scenario's scores), ``trials`` (the one deterministic trial) and
    ``outcomes`` (per query passage: its identity, first-match rank and AP, global).
    """

    distmat, first = passage_distances(query_emb, gallery_emb, pids, passages, distance)
    passage_pids = np.asarray(pids)[first]
    outcomes = scenario_results(distmat, passage_pids, passages.cams[first],
                                passages.names[first])
    scenarios = {s: summary(*outcome, passages.ids[first]) for s, outcome in outcomes.items()}
    headline = scenarios[HEADLINE]
    if not headline["num_valid"]:
        raise ValueError("no query passage has a true match among the other passages")
    ranks, ap = outcomes[HEADLINE]
    result: dict[str, Any] = {k: headline[k] for k in ("rank1", "rank5", "rank10", "mAP")}
    result.update(map_queries=headline["num_valid"], scenarios=scenarios,
                  trials=[dict(headline)],
                  outcomes=QueryOutcomes(pids=passage_pids.copy(),
                                         ranks=ranks[None, :].astype(np.int32), ap=ap))
    return result


def submission_rows(distmat: np.ndarray, ids: np.ndarray, paths: np.ndarray) -> pd.DataFrame:
    """Rankings in TVRID's submission format: every query passage against every other
    passage, nearest first, ranks from 1 (``eval_generate.py:96-124``)."""
    ids, paths = np.asarray(ids).astype(str), np.asarray(paths).astype(str)
    distmat = np.asarray(distmat, dtype=np.float64)
    order = ranking(distmat)
    n = len(ids)
    query = np.repeat(np.arange(n), n - 1)
    gallery = order.ravel()
    return pd.DataFrame({"query_gallery_id": ids[query], "query_path": paths[query],
                         "gallery_id": ids[gallery], "gallery_path": paths[gallery],
                         "rank": np.tile(np.arange(1, n), n),
                         "distance": distmat[query, gallery]})


def write_submission(path: str | Path, distmat: np.ndarray, ids: np.ndarray,
                     paths: np.ndarray) -> Path:
    """Write one track's ``rankings_<track>.csv`` (columns :data:`SUBMISSION_COLUMNS`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    submission_rows(distmat, ids, paths).to_csv(path, index=False)
    return path

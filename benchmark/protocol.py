"""The paper's evaluation protocol (§4), usable on embeddings from anywhere.

For one (query modality, gallery modality) setting:

- **CMC rank-1/5/10 are single-shot.** In each of ``trials`` trials one gallery image is
  drawn at random per gallery identity; the queries are all query images except the twin
  of a chosen gallery image, i.e. the query with the same identity and time-step key
  (cross-modal: the image of the other modality taken at the same moment; single-modal:
  the gallery image itself). The ranks are averaged over the trials.
- **mAP is multi-shot.** For each query, the average precision over *all* test images of
  the gallery modality except the query's twin (cross-modal) or the query itself
  (single-modal); the mean over the queries with a true match. It does not depend on
  the draws. The paper restricts single-shot galleries to "the reporting of the rank
  accuracy", and every mAP it reports lies below what any single-shot gallery allows
  (there AP = 1 / rank of the one true match, so mAP >= r1 + (r5 - r1) / 5 + ...); the
  authors' code computes AP over a gallery of 50 images per identity
  (``open-reid/reid/evaluators.py:289-300``, ``evaluation_metrics/ranking.py:93-132``).

Ties are pessimistic in both (see :mod:`benchmark.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from benchmark.distance import euclidean_distance
from benchmark.metrics import average_precisions, evaluate, ranked_matches

RANK_METRICS = ("rank1", "rank5", "rank10")
METRICS = (*RANK_METRICS, "mAP")
# Bumped when a metric's definition changes, so that records made before are recomputed.
EVALUATION_VERSION = 2
PROTOCOLS = ("paper", "authors-code")
Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]


def draw_single_shot_gallery(gallery_pids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of one uniformly drawn gallery item per identity, sorted by identity."""
    gallery_pids = np.asarray(gallery_pids)
    order = np.lexsort((rng.random(len(gallery_pids)), gallery_pids))
    sorted_pids = gallery_pids[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_pids[1:] != sorted_pids[:-1]
    return order[first]


def twin_mask(query_pids: np.ndarray, query_frames: np.ndarray, gallery_pids: np.ndarray,
              gallery_frames: np.ndarray) -> np.ndarray:
    """(n_query,) bool: the query shares identity and time-step key with a gallery item."""
    query_keys = np.stack([np.asarray(query_pids), np.asarray(query_frames)], axis=1)
    gallery_keys = np.stack([np.asarray(gallery_pids), np.asarray(gallery_frames)], axis=1)
    as_rows = np.dtype((np.void, query_keys.dtype.itemsize * 2))
    query_rows = np.ascontiguousarray(query_keys).view(as_rows).ravel()
    gallery_rows = np.ascontiguousarray(gallery_keys.astype(query_keys.dtype)).view(as_rows)
    return np.isin(query_rows, gallery_rows.ravel())


def twin_pairs(query_pids: np.ndarray, query_frames: np.ndarray, gallery_pids: np.ndarray,
               gallery_frames: np.ndarray) -> np.ndarray:
    """(n_query, n_gallery) bool: the pair shares identity and time-step key (twins)."""
    return ((np.asarray(query_pids)[:, None] == np.asarray(gallery_pids)[None, :])
            & (np.asarray(query_frames)[:, None] == np.asarray(gallery_frames)[None, :]))


def multi_shot_map(query_emb: np.ndarray, query_pids: np.ndarray, query_frames: np.ndarray,
                   gallery_emb: np.ndarray, gallery_pids: np.ndarray,
                   gallery_frames: np.ndarray, distance: Distance = euclidean_distance,
                   block: int = 1024) -> tuple[float, int]:
    """Mean AP of every query against every gallery item but its twin, and the query count.

    The twin is the gallery item with the query's identity and time-step key (the other
    modality's image of the same moment, or the query image itself when query and gallery
    are one set). Queries without a true match are left out. ``block`` queries are ranked
    at a time, so memory stays ``block x n_gallery``.
    """
    query_pids, query_frames = np.asarray(query_pids), np.asarray(query_frames)
    gallery_pids, gallery_frames = np.asarray(gallery_pids), np.asarray(gallery_frames)
    scores = []
    for start in range(0, len(query_pids), block):
        rows = slice(start, start + block)
        twins = twin_pairs(query_pids[rows], query_frames[rows], gallery_pids,
                           gallery_frames)
        distmat = np.asarray(distance(query_emb[rows], gallery_emb), dtype=np.float64)
        scores.append(average_precisions(ranked_matches(distmat, query_pids[rows],
                                                        gallery_pids, twins)))
    ap = np.concatenate(scores)
    scored = ~np.isnan(ap)
    if not scored.any():
        raise ValueError("no query has a true match in the gallery")
    return float(ap[scored].mean()), int(scored.sum())


def single_shot(query_emb: np.ndarray, query_pids: np.ndarray, query_frames: np.ndarray,
                gallery_emb: np.ndarray, gallery_pids: np.ndarray, gallery_frames: np.ndarray,
                *, same_modality: bool = False, trials: int = 10, seed: int = 0,
                protocol: str = "paper", authors_bug: bool = False,
                distance: Distance | None = None) -> dict:
    """Single-shot CMC averaged over ``trials`` random galleries, and multi-shot mAP.

    Args:
        query_emb, gallery_emb: (n, d) embeddings.
        *_pids: identity labels; *_frames: time-step keys (equal pid and frame = twins).
        same_modality: query and gallery are the same images (Tables 1-2); a trial's
            gallery images then leave its queries.
        trials: number of random galleries; seed: seed of the draws.
        protocol: ``"paper"`` (this module) or ``"authors-code"`` (the authors' published
            evaluator, see :mod:`benchmark.protocol_authors`); ``authors_bug`` reproduces
            that evaluator's twin-exclusion and loop-bound bugs.
        distance: callable (query, gallery) -> (nq, ng); Euclidean by default.

    Returns:
        ``rank1``, ``rank5``, ``rank10`` (mean over trials), ``mAP`` (multi-shot, see
        the module docstring), all fractions; ``map_queries``, the queries it averages;
        and ``trials``, the per-trial rank dicts (with ``single_shot_mAP``, the mAP over
        that trial's single-shot gallery, as earlier versions reported it, for
        comparison only). The ``authors-code`` protocol returns
        its own definitions (mAP per trial over its sampled gallery).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    arrays = [np.asarray(a) for a in (query_emb, query_pids, query_frames, gallery_emb,
                                      gallery_pids, gallery_frames)]
    query_emb, query_pids, query_frames, gallery_emb, gallery_pids, gallery_frames = arrays
    if not (len(query_emb) == len(query_pids) == len(query_frames)):
        raise ValueError("query embeddings, pids and frames differ in length")
    if not (len(gallery_emb) == len(gallery_pids) == len(gallery_frames)):
        raise ValueError("gallery embeddings, pids and frames differ in length")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if same_modality and (len(query_pids) != len(gallery_pids)
                          or not np.array_equal(query_frames, gallery_frames)):
        raise ValueError("same_modality=True needs the same images as query and gallery")
    distance = distance or euclidean_distance
    if protocol == "authors-code":
        from benchmark.protocol_authors import authors_code_protocol

        return authors_code_protocol(query_emb, query_pids, query_frames, gallery_emb,
                                     gallery_pids, gallery_frames,
                                     same_modality=same_modality, trials=trials, seed=seed,
                                     authors_bug=authors_bug, distance=distance)
    rng = np.random.default_rng(seed)
    per_trial = []
    for _ in range(trials):
        chosen = draw_single_shot_gallery(gallery_pids, rng)
        keep = ~twin_mask(query_pids, query_frames, gallery_pids[chosen],
                          gallery_frames[chosen])
        distmat = distance(query_emb, gallery_emb[chosen])[keep]  # no copy of the queries
        scores = evaluate(distmat, query_pids[keep], gallery_pids[chosen])
        per_trial.append({**{k: scores[k] for k in (*RANK_METRICS, "num_valid", "num_skipped")},
                          "single_shot_mAP": scores["mAP"]})
    summary: dict = {k: float(np.mean([t[k] for t in per_trial])) for k in RANK_METRICS}
    summary["mAP"], summary["map_queries"] = multi_shot_map(
        query_emb, query_pids, query_frames, gallery_emb, gallery_pids, gallery_frames,
        distance)
    summary["trials"] = per_trial
    return summary

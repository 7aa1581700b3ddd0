"""The evaluation of the authors' published code, as an alternative to the paper protocol.

What their evaluator (open-reid ``evaluators.py``/``ranking.py`` of
``frhf/cross-modal-distillation-reidentification``) does in each trial:

- It draws 50 query and 50 gallery images per test identity, with replacement,
  independently for each modality, and keeps them in the order of its image list
  (identity, then image).
- mAP: over the whole sampled gallery, with scikit-learn 0.15's ``average_precision_score``,
  the trapezoidal area under the precision-recall curve (not today's step-wise sum).
- CMC: for each query, 15 random single-shot galleries (one valid image per identity).
- Both leave out the query's twin (the same time step: the other modality's image, or the
  same image in single-modal settings), but the exclusion mask is built in the gallery's
  sampled order and applied after sorting by distance, so it drops unrelated positions and
  the twin usually stays in.
- The draws loop over ``range(max identity)``, which leaves out the highest test identity.

``authors_bug=False`` (default) applies the exclusion in the right order and keeps every
identity; ``authors_bug=True`` reproduces both bugs. In single-modal settings their code
also took the first modality's mask from the second modality's draws; under the
wrong-order bug that mask is just as unrelated to the ranking, so it is not modelled.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from methods.core.distance import euclidean_distance
from methods.core.twins import twin_pairs

Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]
DRAWS_PER_IDENTITY = 50
CMC_REPEATS = 15
RANKS = (1, 5, 10)


def draw_per_identity(pids: np.ndarray, frames: np.ndarray, draws: int, drop_highest: bool,
                      rng: np.random.Generator) -> np.ndarray:
    """Indices of ``draws`` images per identity, with replacement, in image-list order.

    The list is ordered by identity, then time-step key, as the authors' ``meta.json``.
    ``drop_highest`` leaves out the largest identity (their ``range(pids.max())`` bound).
    """
    order = np.lexsort((frames, pids))
    identities, starts, counts = np.unique(pids[order], return_index=True, return_counts=True)
    if drop_highest:
        starts, counts = starts[:-1], counts[:-1]
    picks = starts[:, None] + rng.integers(0, counts[:, None], size=(len(counts), draws))
    return order[np.sort(picks.ravel())]


def interpolated_average_precision(dist_sorted: np.ndarray, matches: np.ndarray,
                                   valid: np.ndarray) -> np.ndarray:
    """Per-row AP as scikit-learn 0.15 computes it, over the ``valid`` entries of each row.

    Rows are ranked by ascending distance. AP is the trapezoidal area under the
    precision-recall curve through one point per distinct distance and the point
    (recall 0, precision 1). NaN for rows without a valid true match.
    """
    n = dist_sorted.shape[1]
    compact = np.argsort(~valid, axis=1, kind="stable")  # valid entries first, in rank order
    d = np.take_along_axis(dist_sorted, compact, axis=1)
    n_valid = valid.sum(axis=1)
    inside = np.arange(n)[None, :] < n_valid[:, None]
    y = np.take_along_axis(matches, compact, axis=1) & inside
    tp = np.cumsum(y, axis=1)
    fp = np.cumsum(~y & inside, axis=1)
    last = np.ones(d.shape, dtype=bool)
    last[:, :-1] = d[:, 1:] != d[:, :-1]
    end = inside & (last | (np.arange(n)[None, :] == n_valid[:, None] - 1))
    total = tp[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / np.maximum(tp + fp, 1)
        recall = tp / total[:, None]
    prev = np.maximum.accumulate(np.where(end, np.arange(n)[None, :], -1), axis=1)
    prev = np.concatenate([np.full((len(d), 1), -1), prev[:, :-1]], axis=1)
    rows = np.arange(len(d))[:, None]
    recall_prev = np.where(prev >= 0, recall[rows, np.maximum(prev, 0)], 0.0)
    precision_prev = np.where(prev >= 0, precision[rows, np.maximum(prev, 0)], 1.0)
    area = np.where(end, (recall - recall_prev) * (precision + precision_prev) / 2, 0.0)
    return np.where(total > 0, area.sum(axis=1), np.nan)


def single_shot_cmc(pos: np.ndarray, valid: np.ndarray, query_pids: np.ndarray,
                    gallery_pids: np.ndarray, repeats: int, rng: np.random.Generator
                    ) -> np.ndarray:
    """(n_query, len(RANKS)) CMC hits averaged over ``repeats`` single-shot galleries.

    Each repeat keeps one random valid gallery item per identity (the gallery is grouped by
    identity); a query's rank is the number of kept items of other identities ranked
    before its own identity's kept item (``pos`` = each item's rank position).
    """
    starts = np.flatnonzero(np.r_[True, gallery_pids[1:] != gallery_pids[:-1]])
    block_pids = gallery_pids[starts]
    block_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(gallery_pids)]))
    own = np.searchsorted(block_pids, query_pids)
    big = np.iinfo(np.int64).max
    hits = np.zeros((len(query_pids), len(RANKS)))
    for _ in range(repeats):
        keys = np.where(valid, rng.random(valid.shape), np.inf)
        chosen = valid & (keys == np.minimum.reduceat(keys, starts, axis=1)[:, block_of])
        kept = np.minimum.reduceat(np.where(chosen, pos, big), starts, axis=1)
        own_pos = kept[np.arange(len(own)), np.minimum(own, len(starts) - 1)]
        rank = (kept < own_pos[:, None]).sum(axis=1)
        hits += rank[:, None] < np.array(RANKS)[None, :]
    return hits / repeats


def one_trial(query_emb: np.ndarray, query_pids: np.ndarray, query_frames: np.ndarray,
              gallery_emb: np.ndarray, gallery_pids: np.ndarray, gallery_frames: np.ndarray,
              authors_bug: bool, distance: Distance, rng: np.random.Generator) -> dict:
    """One trial of the authors' evaluation; see the module docstring."""
    g = draw_per_identity(gallery_pids, gallery_frames, DRAWS_PER_IDENTITY, authors_bug, rng)
    q = draw_per_identity(query_pids, query_frames, DRAWS_PER_IDENTITY, authors_bug, rng)
    qp, gp = query_pids[q], gallery_pids[g]
    dist = np.asarray(distance(query_emb[q], gallery_emb[g]), dtype=np.float64)
    keep = ~twin_pairs(qp, query_frames[q], gp, gallery_frames[g])  # in gallery order
    order = np.argsort(dist, axis=1, kind="stable")
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.arange(order.shape[1])[None, :], axis=1)
    matches = gp[order] == qp[:, None]
    if authors_bug:
        valid_ranked = keep  # their bug: a gallery-order mask indexes the ranked list
        valid = np.take_along_axis(keep, pos, axis=1)
    else:
        valid_ranked = np.take_along_axis(keep, order, axis=1)
        valid = keep
    ap = interpolated_average_precision(np.take_along_axis(dist, order, axis=1), matches,
                                        valid_ranked)
    scored = ~np.isnan(ap)
    if not scored.any():
        raise ValueError("no query has a true match in the sampled gallery")
    hits = single_shot_cmc(pos[scored], valid[scored], qp[scored], gp, CMC_REPEATS, rng)
    result = {f"rank{k}": float(hits[:, i].mean()) for i, k in enumerate(RANKS)}
    result.update(mAP=float(ap[scored].mean()), num_valid=int(scored.sum()),
                  num_skipped=int((~scored).sum()))
    return result


def authors_code_protocol(query_emb: np.ndarray, query_pids: np.ndarray,
                          query_frames: np.ndarray, gallery_emb: np.ndarray,
                          gallery_pids: np.ndarray, gallery_frames: np.ndarray, *,
                          same_modality: bool = False, trials: int = 10, seed: int = 0,
                          authors_bug: bool = False, distance: Distance | None = None
                          ) -> dict:
    """CMC rank-1/5/10 and mAP as the authors' evaluator computes them, averaged over trials.

    Args:
        query_emb, gallery_emb: (n, d) embeddings.
        *_pids: identities; *_frames: time-step keys (equal pid and frame = twins).
        same_modality: query and gallery are the same images; the excluded twin is then
            the query image itself. The computation is otherwise the same.
        trials: number of trials; seed: seeds the one ``numpy.random.Generator`` used.
        authors_bug: reproduce the wrong-order twin exclusion and the dropped identity.
        distance: callable (query, gallery) -> (nq, ng); Euclidean by default.

    Returns:
        ``rank1``, ``rank5``, ``rank10``, ``mAP`` (fractions, mean over trials) and
        ``trials``: per-trial dicts with those keys plus ``num_valid``/``num_skipped``
        (queries with/without a true match left in the sampled gallery).
    """
    if distance is None:
        distance = euclidean_distance
    arrays = [np.asarray(a) for a in (query_emb, query_pids, query_frames, gallery_emb,
                                      gallery_pids, gallery_frames)]
    query_emb, query_pids, query_frames, gallery_emb, gallery_pids, gallery_frames = arrays
    if not len(query_emb) == len(query_pids) == len(query_frames):
        raise ValueError("query embeddings, pids and frames differ in length")
    if not len(gallery_emb) == len(gallery_pids) == len(gallery_frames):
        raise ValueError("gallery embeddings, pids and frames differ in length")
    if trials < 1:
        raise ValueError(f"trials must be >= 1, got {trials}")
    if same_modality and not np.array_equal(np.sort(query_frames), np.sort(gallery_frames)):
        raise ValueError("same_modality=True needs the same images as query and gallery")
    rng = np.random.default_rng(seed)
    per_trial = [one_trial(query_emb, query_pids, query_frames, gallery_emb, gallery_pids,
                           gallery_frames, authors_bug, distance, rng) for _ in range(trials)]
    summary: dict = {k: float(np.mean([t[k] for t in per_trial]))
                     for k in ("rank1", "rank5", "rank10", "mAP")}
    summary["trials"] = per_trial
    return summary

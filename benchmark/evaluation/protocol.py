"""The paper's evaluation protocol (§4), usable on embeddings from anywhere.

For one (query modality, gallery modality) setting:

- **CMC rank-1/5/10 are single-shot**, averaged over ``trials`` trials. The *twin* of a
  query is the gallery item with its identity and time-step key (cross-modal: the image
  of the other modality taken at the same moment; single-modal: the query image itself).
  Two readings of the paper's "a random selection of the gallery images is repeated 10
  times ... the exactly same corresponding image in the parallel modality is excluded"
  are offered (``single_shot_rule``):

  - ``"draw-then-drop"``: each trial draws one gallery image per identity, shared by all
    queries, and drops from that trial every query whose twin was drawn. An identity
    with n images then counts with weight (n - 1) / n.
  - ``"exclude-then-draw"``: each query's twin leaves its gallery first, then one image
    per identity is drawn for that query, so every query with another image of its
    identity counts in every trial. This is torchreid's single-gallery-shot evaluation
    (``eval_cuhk03``) and what the authors' evaluator sets out to do
    (``open-reid/reid/evaluation_metrics/ranking.py:51-78``: ``_unique_sample`` draws one
    item per identity among those ``valid`` allows, per query and repeat); there the
    mask meant to drop the twin is applied in the wrong order, so the twin usually stays
    (reproduced by :mod:`methods.core.protocol_authors` with ``authors_bug``).

  The two have the same expectation when every identity has the same number of images
  and differ otherwise.
- **mAP is multi-shot.** For each query, the average precision over *all* test images of
  the gallery modality except the query's twin (cross-modal) or the query itself
  (single-modal); the mean over the queries with a true match. It does not depend on
  the draws. The paper restricts single-shot galleries to "the reporting of the rank
  accuracy", and every mAP it reports lies below what any single-shot gallery allows
  (there AP = 1 / rank of the one true match, so mAP >= r1 + (r5 - r1) / 5 + ...); the
  authors' code computes AP over a gallery of 50 images per identity
  (``open-reid/reid/evaluators.py:289-300``, ``evaluation_metrics/ranking.py:93-132``).

Ties are pessimistic in both (see :mod:`methods.core.metrics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from benchmark.evaluation.outcomes import QueryOutcomes
from methods.core.distance import euclidean_distance
from methods.core.metrics import average_precisions, ranked_matches
from methods.core.twins import twin_mask, twin_pairs

if TYPE_CHECKING:
    from benchmark.evaluation.protocol_tvrid import Passages

RANK_METRICS = ("rank1", "rank5", "rank10")
METRICS = (*RANK_METRICS, "mAP")
# Bumped when a metric's definition or a record's content changes, so that records made
# before are recomputed (3: per-query outcomes stored beside each record).
EVALUATION_VERSION = 3
PROTOCOLS = ("paper", "authors-code", "tvrid")
SINGLE_SHOT_RULES = ("draw-then-drop", "exclude-then-draw")
BLOCK = 1024  # queries ranked at a time: memory stays BLOCK x n_gallery
Distance = Callable[[np.ndarray, np.ndarray], np.ndarray]


def draw_single_shot_gallery(gallery_pids: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of one uniformly drawn gallery item per identity, sorted by identity."""
    gallery_pids = np.asarray(gallery_pids)
    order = np.lexsort((rng.random(len(gallery_pids)), gallery_pids))
    sorted_pids = gallery_pids[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = sorted_pids[1:] != sorted_pids[:-1]
    return order[first]


def multi_shot_average_precisions(distmat: np.ndarray, query_pids: np.ndarray,
                                  query_frames: np.ndarray, gallery_pids: np.ndarray,
                                  gallery_frames: np.ndarray) -> np.ndarray:
    """Per-query AP against every gallery item but the query's twin; NaN without a match."""
    twins = twin_pairs(query_pids, query_frames, gallery_pids, gallery_frames)
    return average_precisions(ranked_matches(distmat, query_pids, gallery_pids, twins))


def multi_shot_map(query_emb: np.ndarray, query_pids: np.ndarray, query_frames: np.ndarray,
                   gallery_emb: np.ndarray, gallery_pids: np.ndarray,
                   gallery_frames: np.ndarray, distance: Distance = euclidean_distance,
                   block: int = BLOCK) -> tuple[float, int]:
    """Mean AP of every query against every gallery item but its twin, and the query count.

    The twin is the gallery item with the query's identity and time-step key (the other
    modality's image of the same moment, or the query image itself when query and gallery
    are one set). Queries without a true match are left out. ``block`` queries are ranked
    at a time, so memory stays ``block x n_gallery``.
    """
    query_pids, query_frames = np.asarray(query_pids), np.asarray(query_frames)
    gallery_pids, gallery_frames = np.asarray(gallery_pids), np.asarray(gallery_frames)
    ap = np.concatenate([
        multi_shot_average_precisions(
            np.asarray(distance(query_emb[rows], gallery_emb), dtype=np.float64),
            query_pids[rows], query_frames[rows], gallery_pids, gallery_frames)
        for rows in _blocks(len(query_pids), block)])
    return _mean_ap(ap)


def _blocks(n: int, block: int) -> list[slice]:
    return [slice(start, start + block) for start in range(0, n, block)]


def _mean_ap(ap: np.ndarray) -> tuple[float, int]:
    scored = ~np.isnan(ap)
    if not scored.any():
        raise ValueError("no query has a true match in the gallery")
    return float(ap[scored].mean()), int(scored.sum())


def first_match_ranks(dist_own: np.ndarray, dist_others: np.ndarray) -> np.ndarray:
    """0-based rank of the own-identity item among one item per identity.

    ``dist_own`` (n,) is the distance to the query's drawn item of its own identity,
    ``dist_others`` (n, m) to the drawn items of the other identities (NaN-free; +inf
    marks a slot that is not an item). Ties are pessimistic: an equally distant item of
    another identity ranks first.
    """
    return (dist_others <= dist_own[:, None]).sum(axis=1)


def _identity_blocks(pids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(order, identities, starts, counts): the items sorted by identity, in blocks."""
    order = np.argsort(pids, kind="stable")
    identities, starts, counts = np.unique(pids[order], return_index=True,
                                           return_counts=True)
    return order, identities, starts, counts


def _shared_gallery_ranks(distmat: np.ndarray, query_pids: np.ndarray,
                          query_frames: np.ndarray, gallery_pids: np.ndarray,
                          gallery_frames: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Ranks of one ``draw-then-drop`` trial for a block of queries (-1 = not counted)."""
    kept_pids = gallery_pids[chosen]
    d = distmat[:, chosen]
    own = query_pids[:, None] == kept_pids[None, :]
    has_own = own.any(axis=1)
    dist_own = np.where(has_own, np.where(own, d, -np.inf).max(axis=1), np.inf)
    ranks = first_match_ranks(dist_own, np.where(own, np.inf, d))
    dropped = twin_mask(query_pids, query_frames, kept_pids, gallery_frames[chosen])
    return np.where(has_own & ~dropped, ranks, -1)


def _per_query_gallery_ranks(distmat: np.ndarray, query_pids: np.ndarray,
                             query_frames: np.ndarray, gallery_pids: np.ndarray,
                             gallery_frames: np.ndarray, rng: np.random.Generator
                             ) -> np.ndarray:
    """Ranks of one ``exclude-then-draw`` trial for a block of queries (-1 = no match).

    Each query draws its own gallery: one item per identity, uniformly among that
    identity's items, its own identity's twin left out before the draw.
    """
    order, identities, starts, counts = _identity_blocks(gallery_pids)
    n = len(query_pids)
    own_block = np.searchsorted(identities, query_pids)
    has_block = (own_block < len(identities)) & (
        identities[np.minimum(own_block, len(identities) - 1)] == query_pids)
    own_block = np.minimum(own_block, len(identities) - 1)
    twins = twin_pairs(query_pids, query_frames, gallery_pids[order], gallery_frames[order])
    has_twin = twins.any(axis=1)
    twin_local = twins.argmax(axis=1) - starts[own_block]
    local = np.floor(rng.random((n, len(identities))) * counts[None, :]).astype(np.int64)
    rows = np.arange(n)
    own_count = counts[own_block] - has_twin
    own_local = np.floor(rng.random(n) * np.maximum(own_count, 0)).astype(np.int64)
    own_local += has_twin & (own_local >= twin_local)
    local[rows, own_block] = own_local
    picked = distmat[rows[:, None], order[starts[None, :] + local]]
    is_own = np.arange(len(identities))[None, :] == own_block[:, None]
    is_own &= has_block[:, None]
    ranks = first_match_ranks(picked[rows, own_block], np.where(is_own, np.inf, picked))
    return np.where(has_block & (own_count > 0), ranks, -1)


def trial_scores(ranks: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """A trial's CMC at ``ks`` and single-shot mAP from its per-query ranks (-1 skipped).

    On a single-shot gallery a query has one true match, so its AP is 1 / (rank + 1).
    """
    counted = ranks[ranks >= 0]
    if not len(counted):
        raise ValueError("no query has a true match in the gallery")
    scores = {f"rank{k}": float(np.mean(counted < k)) for k in ks}
    scores["single_shot_mAP"] = float(np.mean(1.0 / (counted + 1)))
    scores["num_valid"] = int(len(counted))
    return scores


def single_shot(query_emb: np.ndarray, query_pids: np.ndarray, query_frames: np.ndarray,
                gallery_emb: np.ndarray, gallery_pids: np.ndarray, gallery_frames: np.ndarray,
                *, same_modality: bool = False, trials: int = 10, seed: int = 0,
                protocol: str = "paper", authors_bug: bool = False,
                distance: Distance | None = None,
                single_shot_rule: str = "draw-then-drop",
                passages: Passages | None = None) -> dict:
    """Single-shot CMC averaged over ``trials`` random galleries, and multi-shot mAP.

    Args:
        query_emb, gallery_emb: (n, d) embeddings.
        *_pids: identity labels; *_frames: time-step keys (equal pid and frame = twins).
        same_modality: query and gallery are the same images (Tables 1-2).
        trials: number of random galleries; seed: seed of the draws.
        protocol: ``"paper"`` (this module), ``"authors-code"`` (the authors' published
            evaluator, see :mod:`methods.core.protocol_authors`; ``authors_bug`` reproduces
            that evaluator's twin-exclusion and loop-bound bugs) or ``"tvrid"`` (TVRID's
            passage rankings and scenarios, :mod:`benchmark.evaluation.protocol_tvrid`).
        distance: callable (query, gallery) -> (nq, ng); Euclidean by default.
        single_shot_rule: ``"draw-then-drop"`` or ``"exclude-then-draw"`` (module
            docstring).
        passages: ``tvrid`` protocol: each item's passage (query and gallery are then the
            same items).

    Returns:
        ``rank1``, ``rank5``, ``rank10`` (mean over trials), ``mAP`` (multi-shot, see
        the module docstring), all fractions; ``map_queries``, the queries it averages;
        ``trials``, the per-trial rank dicts (with ``single_shot_mAP``, the mAP over
        that trial's single-shot gallery, for comparison only); and ``outcomes``, the
        per-query :class:`QueryOutcomes`. The ``authors-code`` protocol returns its own
        definitions (mAP per trial over its sampled gallery) and no outcomes; ``tvrid``
        its own (one deterministic trial, per-scenario scores, outcomes per passage).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; expected one of {PROTOCOLS}")
    if single_shot_rule not in SINGLE_SHOT_RULES:
        raise ValueError(f"unknown single_shot_rule {single_shot_rule!r}; expected one of "
                         f"{SINGLE_SHOT_RULES}")
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
    if protocol == "tvrid":
        from benchmark.evaluation.protocol_tvrid import tvrid_protocol

        if passages is None:
            raise ValueError("the tvrid protocol needs each item's passage (passages=...)")
        return tvrid_protocol(query_emb, gallery_emb, query_pids, passages, distance)
    if protocol == "authors-code":
        from methods.core.protocol_authors import authors_code_protocol

        return authors_code_protocol(query_emb, query_pids, query_frames, gallery_emb,
                                     gallery_pids, gallery_frames,
                                     same_modality=same_modality, trials=trials, seed=seed,
                                     authors_bug=authors_bug, distance=distance)
    rng = np.random.default_rng(seed)
    shared = [draw_single_shot_gallery(gallery_pids, rng) for _ in range(trials)] \
        if single_shot_rule == "draw-then-drop" else None
    ranks = np.empty((trials, len(query_pids)), dtype=np.int32)
    ap = np.empty(len(query_pids))
    for rows in _blocks(len(query_pids), BLOCK):
        distmat = np.asarray(distance(query_emb[rows], gallery_emb), dtype=np.float64)
        if np.isnan(distmat).any():
            raise ValueError("distmat contains NaN")
        block = (distmat, query_pids[rows], query_frames[rows], gallery_pids, gallery_frames)
        ap[rows] = multi_shot_average_precisions(*block)
        for t in range(trials):
            ranks[t, rows] = _shared_gallery_ranks(*block, shared[t]) if shared is not None \
                else _per_query_gallery_ranks(*block, rng)
    per_trial = [trial_scores(r) for r in ranks]
    summary: dict = {k: float(np.mean([t[k] for t in per_trial])) for k in RANK_METRICS}
    summary["mAP"], summary["map_queries"] = _mean_ap(ap)
    summary["trials"] = per_trial
    summary["outcomes"] = QueryOutcomes(pids=query_pids.copy(), ranks=ranks, ap=ap)
    return summary

"""Re-identification metrics: CMC ranks and mean average precision.

Definitions (as torchreid and the Market-1501 toolkit use them):
- CMC rank-k: the fraction of queries with at least one true match among the k
  nearest gallery items.
- AP of a query: the mean, over its true matches, of the precision at each true match's
  position in the ranking; mAP is its mean over queries.
- Queries without any true match in the gallery are left out of both, and their number
  is reported as ``num_skipped``.

Tie rule: gallery items at exactly the same distance from a query are ordered with the
false matches first (pessimistic). The result then never depends on the gallery's order,
and a method that cannot tell items apart (e.g. constant distances) scores no better
than the worst case instead of inheriting a lucky order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def ranked_matches(distmat: np.ndarray, query_ids: np.ndarray, gallery_ids: np.ndarray,
                   exclude: np.ndarray | None = None) -> np.ndarray:
    """(nq, ng) bool: whether the gallery item at each rank matches the query's identity.

    ``exclude`` ((nq, ng) bool) takes items out of a query's ranking: they are moved
    behind every other item and never count as matches, so the ranks of the rest are
    those of a gallery without them.
    """
    distmat = np.asarray(distmat, dtype=np.float64)
    query_ids = np.asarray(query_ids)
    gallery_ids = np.asarray(gallery_ids)
    if distmat.shape != (len(query_ids), len(gallery_ids)):
        raise ValueError(f"distmat has shape {distmat.shape}, expected "
                         f"({len(query_ids)}, {len(gallery_ids)}) from the id arrays")
    if np.isnan(distmat).any():
        raise ValueError("distmat contains NaN")
    matches = query_ids[:, None] == gallery_ids[None, :]
    keys = (matches, distmat)  # by distance, then non-matches first
    if exclude is not None:
        exclude = np.asarray(exclude, dtype=bool)
        if exclude.shape != distmat.shape:
            raise ValueError(f"exclude has shape {exclude.shape}, expected {distmat.shape}")
        matches &= ~exclude
        keys = (matches, distmat, exclude)  # excluded items last
    order = np.lexsort(keys, axis=1)
    return np.take_along_axis(matches, order, axis=1)


def average_precisions(matches: np.ndarray) -> np.ndarray:
    """Per-query AP of ranked match flags (:func:`ranked_matches`); NaN without a match."""
    hits = np.cumsum(matches, axis=1)
    precision = hits / np.arange(1, matches.shape[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (precision * matches).sum(axis=1) / matches.sum(axis=1)


def evaluate(distmat: np.ndarray, query_ids: np.ndarray, gallery_ids: np.ndarray,
             ranks: Sequence[int] = (1, 5, 10), exclude: np.ndarray | None = None
             ) -> dict[str, float]:
    """CMC at ``ranks`` and mAP of a query x gallery distance matrix.

    Args:
        distmat: (n_query, n_gallery) distances, smaller = more similar.
        query_ids, gallery_ids: identity labels, (n_query,) and (n_gallery,).
        ranks: the CMC ranks to report, each >= 1.
        exclude: optional (n_query, n_gallery) bool, gallery items left out of each
            query's ranking (see :func:`ranked_matches`).

    Returns:
        ``rank{k}`` for each k and ``mAP``, fractions in [0, 1], over the queries with at
        least one true match; ``num_valid`` and ``num_skipped`` count queries with and
        without a true match.
    """
    if any(k < 1 for k in ranks):
        raise ValueError(f"ranks must be >= 1, got {tuple(ranks)}")
    matches = ranked_matches(distmat, query_ids, gallery_ids, exclude)
    valid = matches.any(axis=1)
    if not valid.any():
        raise ValueError("no query has a true match in the gallery")
    matches = matches[valid]
    first_hit = matches.argmax(axis=1)
    result = {f"rank{k}": float(np.mean(first_hit < k)) for k in ranks}
    result["mAP"] = float(average_precisions(matches).mean())
    result["num_valid"] = int(valid.sum())
    result["num_skipped"] = int((~valid).sum())
    return result

"""Distances between embeddings: a leaf of the harness that methods import too."""

from __future__ import annotations

import numpy as np


def euclidean_distance(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(n_query, n_gallery) Euclidean distances, computed in float64."""
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    squared = (q * q).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * q @ g.T
    return np.sqrt(np.maximum(squared, 0.0))

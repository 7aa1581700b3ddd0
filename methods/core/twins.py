"""Twins: a query and a gallery item of the same identity and time step (paper §4).

The paper's protocol and the authors' evaluator both need them, so they sit below both.
"""

from __future__ import annotations

import numpy as np


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

"""Validation scores that choose a network's epoch (model selection).

Two protocols, over the validation identities of a fold:

- ``"temporal"``: each identity's earlier half of frames is the query set, its later
  half the gallery; plain mAP (:func:`methods.core.metrics.evaluate`). Splitting in time
  keeps a frame's near-duplicate neighbours (and its twin in the other modality) out of
  its own gallery.
- ``"authors"``: what the authors' ``Evaluator.evaluate`` / ``evaluate_cm`` return
  (``open-reid/reid/evaluators.py:169-182,185-237``): 50 query and 50 gallery images drawn
  per identity with replacement from the same pool, mAP with scikit-learn 0.15's
  interpolated AP, their twin exclusion applied in the wrong order
  (:mod:`methods.core.protocol_authors` with ``authors_bug=True``). New draws at every
  validation, from a generator seeded once per training run.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from methods.core.distance import euclidean_distance
from methods.core.frames import PairedFrames
from methods.core.metrics import evaluate
from methods.core.protocol_authors import one_trial

VALIDATIONS = ("temporal", "authors")
Embedder = Callable[[str], np.ndarray]


def temporal_halves(frames: PairedFrames) -> tuple[np.ndarray, np.ndarray]:
    """Sorted query / gallery rows: each identity's earlier and later frames."""
    query, gallery = [], []
    for pid in np.unique(frames.pids):
        rows = np.flatnonzero(frames.pids == pid)
        rows = rows[np.argsort(frames.frames[rows], kind="stable")]
        half = max(1, len(rows) // 2)
        query.append(rows[:half])
        gallery.append(rows[half:])
    return np.sort(np.concatenate(query)), np.sort(np.concatenate(gallery))


class Validation:
    """mAP of (query modality, gallery modality) settings on the validation frames.

    Args:
        val: the validation identities' paired frames.
        protocol: ``"temporal"`` or ``"authors"`` (see the module docstring).
        seed: seeds the ``"authors"`` draws.
    """

    def __init__(self, val: PairedFrames, protocol: str = "temporal", seed: int = 0) -> None:
        if protocol not in VALIDATIONS:
            raise ValueError(f"unknown validation protocol {protocol!r}; expected "
                             f"one of {VALIDATIONS}")
        self.val = val
        self.protocol = protocol
        self.rng = np.random.default_rng([seed, 7])
        self.halves = temporal_halves(val)

    def scores(self, embeddings: dict[str, np.ndarray],
               settings: tuple[tuple[str, str], ...]) -> list[float]:
        """The mAP of each setting; ``embeddings[m]`` embeds every validation frame in m."""
        val, out = self.val, []
        for q_mod, g_mod in settings:
            if self.protocol == "temporal":
                query, gallery = self.halves
                dist = euclidean_distance(embeddings[q_mod][query], embeddings[g_mod][gallery])
                out.append(evaluate(dist, val.pids[query], val.pids[gallery])["mAP"])
            else:
                out.append(one_trial(embeddings[q_mod], val.pids, val.frames,
                                     embeddings[g_mod], val.pids, val.frames,
                                     authors_bug=True, distance=euclidean_distance,
                                     rng=self.rng)["mAP"])
        return out

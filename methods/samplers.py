"""Which training samples go into each batch.

A sampler yields batches of sample positions; the engine asks for a number of batches
per epoch. Both samplers draw from one seeded ``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class RandomBatches:
    """Shuffled batches of ``batch_size`` samples, reshuffled after each pass.

    With ``drop_last`` every batch is full: a remainder shorter than a batch is dropped
    and a new permutation starts. Without it, the pass ends with the partial batch of
    the remaining samples, so ``ceil(num_samples / batch_size)`` batches are one pass.
    """

    def __init__(self, num_samples: int, batch_size: int, rng: np.random.Generator,
                 drop_last: bool = True) -> None:
        if num_samples < 1 or batch_size < 1:
            raise ValueError("need at least one sample and a batch size >= 1")
        self.num_samples = num_samples
        self.batch_size = min(batch_size, num_samples)
        self.rng = rng
        self.drop_last = drop_last
        self._queue = np.zeros(0, dtype=np.int64)

    def batches(self, count: int) -> Iterator[np.ndarray]:
        """The next ``count`` batches."""
        smallest = self.batch_size if self.drop_last else 1
        for _ in range(count):
            if len(self._queue) < smallest:
                self._queue = self.rng.permutation(self.num_samples)
            batch, self._queue = self._queue[:self.batch_size], self._queue[self.batch_size:]
            yield batch


class IdentityBatches:
    """P x K batches: ``p`` distinct identities, ``k`` samples of each.

    Identities are drawn without replacement within a batch; samples of an identity
    without replacement where it has at least ``k`` (else with replacement). With
    fewer than ``p`` identities, every batch holds all of them. Samples of a batch are
    grouped by identity, in the order drawn. With ``cover``, identities are taken from
    a reshuffled queue instead, so ``len(identities) // p`` consecutive batches hold
    every identity once (open-reid's ``RandomIdentitySampler``; a remainder smaller
    than ``p`` is dropped, as their ``drop_last``).
    """

    def __init__(self, labels: np.ndarray, p: int, k: int, rng: np.random.Generator,
                 cover: bool = False) -> None:
        if p < 2 or k < 2:
            raise ValueError(f"a P x K batch needs p >= 2 and k >= 2, got {p} x {k}")
        labels = np.asarray(labels)
        self.identities, inverse = np.unique(labels, return_inverse=True)
        if len(self.identities) < 2:
            raise ValueError("a P x K batch needs at least two identities")
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(np.bincount(inverse))[:-1]
        self.members = np.split(order, bounds)
        self.p = min(p, len(self.identities))
        self.k = k
        self.rng = rng
        self.cover = cover
        self._queue = np.zeros(0, dtype=np.int64)

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def batches(self, count: int) -> Iterator[np.ndarray]:
        """The next ``count`` batches."""
        for _ in range(count):
            yield self._batch(self._identities())

    def _identities(self) -> np.ndarray:
        if not self.cover:
            return self.rng.choice(len(self.identities), size=self.p, replace=False)
        if len(self._queue) < self.p:
            self._queue = self.rng.permutation(len(self.identities))
        chosen, self._queue = self._queue[:self.p], self._queue[self.p:]
        return chosen

    def _batch(self, chosen: np.ndarray) -> np.ndarray:
        return np.concatenate([
            self.rng.choice(self.members[i], size=self.k,
                            replace=len(self.members[i]) < self.k)
            for i in chosen])

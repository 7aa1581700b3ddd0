"""Which training samples go into each batch.

A sampler yields batches of sample positions; the engine asks for a number of batches
per epoch. Every sampler draws from one seeded ``numpy.random.Generator``.

The cross-modal samplers read a :class:`~methods.deep.inputs.SampleSet` of both
modalities as it is laid out: every frame's RGB sample, then the depth samples of the
same frames in the same order, so sample ``i + n`` is sample ``i``'s twin.
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


def paired_halves(labels: np.ndarray, modalities: np.ndarray) -> int:
    """The number of frames ``n`` of a sample set of both modalities laid out as RGB
    samples ``0..n-1``, then their depth twins ``n..2n-1`` with the same labels; a
    ``ValueError`` for any other layout."""
    labels, modalities = np.asarray(labels), np.asarray(modalities)
    n = len(labels) // 2
    if (len(labels) != 2 * n or n == 0 or (modalities[:n] == modalities[n:]).any()
            or len(np.unique(modalities[:n])) != 1 or (labels[:n] != labels[n:]).any()):
        raise ValueError("a paired sampler needs every frame once per modality: the "
                         "samples of one modality, then their twins in the other")
    return n


class PairedIdentityBatches(IdentityBatches):
    """P identities x K time steps, each time step in both modalities: the ``p * k``
    samples of the first modality (grouped by identity, as :class:`IdentityBatches`),
    then their twins, so a batch holds ``2 * p * k`` samples and every image's partner
    of the same identity and time step in the other modality (the batches a
    cross-modal loss mines)."""

    def __init__(self, labels: np.ndarray, modalities: np.ndarray, p: int, k: int,
                 rng: np.random.Generator, cover: bool = False) -> None:
        self.frames = paired_halves(labels, modalities)
        super().__init__(np.asarray(labels)[:self.frames], p, k, rng, cover)

    @property
    def batch_size(self) -> int:
        return 2 * self.p * self.k

    def _batch(self, chosen: np.ndarray) -> np.ndarray:
        rows = super()._batch(chosen)
        return np.concatenate([rows, rows + self.frames])


class AlternatingBatches:
    """Shuffled batches of one modality at a time, first modality first: each modality
    has its own :class:`RandomBatches` over its samples, and batch ``2i`` comes from
    the first, ``2i + 1`` from the second (two shuffled loaders zipped, one optimiser
    step per batch, as a two-stream network trained modality by modality)."""

    def __init__(self, labels: np.ndarray, modalities: np.ndarray, batch_size: int,
                 rng: np.random.Generator, drop_last: bool = True) -> None:
        self.frames = paired_halves(labels, modalities)
        self.halves = [RandomBatches(self.frames, batch_size, rng, drop_last)
                       for _ in range(2)]
        self.batch_size = self.halves[0].batch_size
        self._turn = 0

    def batches(self, count: int) -> Iterator[np.ndarray]:
        """The next ``count`` batches."""
        for _ in range(count):
            half = self._turn
            self._turn = 1 - half
            yield next(self.halves[half].batches(1)) + half * self.frames

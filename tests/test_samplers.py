"""Batch composition of the samplers and their seeded determinism."""

import numpy as np
import pytest

from methods.samplers import IdentityBatches, RandomBatches


def labels_of(counts: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def test_identity_batches_hold_p_identities_with_k_each() -> None:
    labels = labels_of([6, 5, 9, 4, 7, 8])
    sampler = IdentityBatches(labels, p=4, k=3, rng=np.random.default_rng(0))
    for batch in sampler.batches(20):
        assert len(batch) == 12
        ids, counts = np.unique(labels[batch], return_counts=True)
        assert len(ids) == 4
        assert (counts == 3).all()
        for i in ids:
            assert len(np.unique(batch[labels[batch] == i])) == 3  # without replacement


def test_identity_batches_use_replacement_for_small_identities() -> None:
    labels = labels_of([2, 2, 5])
    sampler = IdentityBatches(labels, p=16, k=4, rng=np.random.default_rng(0))
    assert sampler.p == 3
    batch = next(sampler.batches(1))
    assert sorted(np.unique(labels[batch], return_counts=True)[1]) == [4, 4, 4]


def test_samplers_are_deterministic_per_seed() -> None:
    labels = labels_of([5] * 10)
    runs = [list(IdentityBatches(labels, 4, 2, np.random.default_rng(seed)).batches(5))
            for seed in (3, 3, 4)]
    assert all((a == b).all() for a, b in zip(runs[0], runs[1], strict=True))
    assert any((a != b).any() for a, b in zip(runs[0], runs[2], strict=True))
    first = list(RandomBatches(50, 8, np.random.default_rng(3)).batches(6))
    again = list(RandomBatches(50, 8, np.random.default_rng(3)).batches(6))
    assert all((a == b).all() for a, b in zip(first, again, strict=True))


def test_random_batches_cover_every_sample_once_per_pass() -> None:
    sampler = RandomBatches(40, 8, np.random.default_rng(0))
    seen = np.concatenate(list(sampler.batches(5)))
    assert sorted(seen) == list(range(40))


def test_identity_batches_reject_bad_shapes() -> None:
    with pytest.raises(ValueError):
        IdentityBatches(labels_of([4, 4]), p=1, k=4, rng=np.random.default_rng(0))
    with pytest.raises(ValueError):
        IdentityBatches(labels_of([4]), p=2, k=2, rng=np.random.default_rng(0))

"""Batch composition of the samplers and their seeded determinism."""

import numpy as np
import pytest

from methods.deep.samplers import (
    AlternatingBatches,
    IdentityBatches,
    PairedIdentityBatches,
    RandomBatches,
)


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


class FormerAGWOverride(IdentityBatches):
    """The paired sampler the AGW plugin carried before the core had one (verbatim
    apart from its name): the reference the core's sampler must reproduce row for row."""

    def __init__(self, labels: np.ndarray, p: int, k: int, rng: np.random.Generator) -> None:
        self.frames = len(labels) // 2
        super().__init__(labels[:self.frames], p, k, rng)

    @property
    def batch_size(self) -> int:
        return 2 * self.p * self.k

    def _batch(self, chosen: np.ndarray) -> np.ndarray:
        rows = super()._batch(chosen)
        return np.concatenate([rows, rows + self.frames])


def paired_set(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and modality codes of a two-modality sample set (RGB, then depth twins)."""
    labels = labels_of(counts)
    return np.tile(labels, 2), np.repeat([0, 1], len(labels))


@pytest.mark.parametrize("seed", [0, 7])
def test_paired_batches_are_the_rows_agws_former_override_drew(seed) -> None:
    labels, modalities = paired_set([6, 3, 9, 4, 7, 8, 5])
    core = PairedIdentityBatches(labels, modalities, 3, 4, np.random.default_rng(seed))
    former = FormerAGWOverride(labels, 3, 4, np.random.default_rng(seed))
    assert core.batch_size == former.batch_size == 24
    for mine, theirs in zip(core.batches(30), former.batches(30), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_paired_batches_hold_each_time_step_in_both_modalities() -> None:
    labels, modalities = paired_set([6, 5, 9, 4])
    frames = len(labels) // 2
    sampler = PairedIdentityBatches(labels, modalities, 2, 3, np.random.default_rng(1))
    for batch in sampler.batches(10):
        rgb, depth = batch[:6], batch[6:]
        assert (modalities[rgb] == 0).all() and (depth == rgb + frames).all()
        ids, counts = np.unique(labels[rgb], return_counts=True)
        assert len(ids) == 2 and (counts == 3).all()


def test_cover_draws_every_identity_once_per_epoch() -> None:
    labels, modalities = paired_set([4] * 6)
    sampler = PairedIdentityBatches(labels, modalities, 2, 2, np.random.default_rng(2),
                                    cover=True)
    drawn = [np.unique(labels[b]) for b in sampler.batches(3)]
    assert sorted(np.concatenate(drawn)) == list(range(6))


@pytest.mark.parametrize("make", [
    lambda labels, codes: PairedIdentityBatches(labels, codes, 2, 2, np.random.default_rng()),
    lambda labels, codes: AlternatingBatches(labels, codes, 4, np.random.default_rng()),
])
def test_paired_samplers_reject_a_set_that_is_not_twins(make) -> None:
    labels, modalities = paired_set([4, 4, 4])
    with pytest.raises(ValueError, match="once per modality"):
        make(labels, np.zeros_like(modalities))  # one modality only
    with pytest.raises(ValueError, match="once per modality"):
        make(np.concatenate([labels[:12], labels[:12][::-1]]), modalities)  # not twins


def test_alternating_batches_take_turns_and_pass_over_each_modality() -> None:
    labels, modalities = paired_set([5, 5, 5, 5])
    sampler = AlternatingBatches(labels, modalities, 5, np.random.default_rng(3))
    batches = list(sampler.batches(8))
    assert [int(modalities[b][0]) for b in batches] == [0, 1] * 4
    assert all(len(np.unique(modalities[b])) == 1 and len(b) == 5 for b in batches)
    for half in (0, 1):  # four batches of five: one shuffled pass over the 20 of each
        assert sorted(np.concatenate(batches[half::2])) == list(range(20 * half, 20 * half + 20))

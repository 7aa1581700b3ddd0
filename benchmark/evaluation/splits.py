"""Identity folds: disjoint train / validation / test identity sets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from methods.core.errors import ConfigError


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: three disjoint, sorted identity arrays."""

    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict[str, list[int]]:
        return {k: [int(p) for p in getattr(self, k)] for k in ("train", "val", "test")}


def proportional_sizes(n_identities: int, reference: tuple[int, int, int] = (32, 8, 38)
                       ) -> tuple[int, int, int]:
    """Split ``n_identities`` in the proportions of ``reference`` (default: BIWI's 32/8/38).

    Every part gets at least two identities so that a validation mAP and a
    single-shot test gallery are always defined.
    """
    if n_identities < 6:
        raise ConfigError(f"need at least 6 identities for a train/val/test split, got "
                          f"{n_identities}")
    total = sum(reference)
    train = max(2, round(n_identities * reference[0] / total))
    val = max(2, round(n_identities * reference[1] / total))
    test = n_identities - train - val
    if test < 2:
        train -= 2 - test
        test = 2
    return train, val, test


def random_folds(pids: np.ndarray, sizes: tuple[int, int, int], n_folds: int, seed: int
                 ) -> list[Fold]:
    """``n_folds`` seeded random identity partitions of the given (train, val, test) sizes.

    Fold k draws its permutation from ``numpy.random.default_rng([seed, k])``, so a fold
    does not change when more folds are requested.
    """
    identities = np.unique(np.asarray(pids))
    n_train, n_val, n_test = sizes
    if n_train + n_val + n_test > len(identities):
        raise ConfigError(f"split sizes {sizes} need {sum(sizes)} identities, the data set "
                          f"has {len(identities)}")
    if min(sizes) < 1:
        raise ConfigError(f"every split needs at least one identity, got sizes {sizes}")
    folds = []
    for k in range(n_folds):
        order = np.random.default_rng([seed, k]).permutation(identities)
        folds.append(Fold(k, np.sort(order[:n_train]), np.sort(order[n_train:n_train + n_val]),
                          np.sort(order[n_train + n_val:n_train + n_val + n_test])))
    return folds


def published_name(name: Any) -> int | str:
    """An identity as a split file names it: an integer when it is one, else its text."""
    text = str(name)
    return int(text) if text.lstrip("-").isdigit() else text


def open_reid_split(fold: Fold, names: dict[int, Any] | None = None) -> dict[str, list]:
    """One fold as an open-reid split, identities under ``names`` (code -> name)."""
    def named(pids: Any) -> list:
        return [published_name(names[int(p)] if names else int(p)) for p in pids]

    test = named(fold.test)
    return {"train": named(fold.train), "val": named(fold.val),
            "trainval": named(sorted([*fold.train, *fold.val])), "query": test,
            "gallery": test}

"""Simulated evaluations with training noise, vectorised over replications.

The structure of ``quick`` and ``paper``: a pool of test identities of which each of
3 overlapping folds tests a random subset, an unequal number of images per identity,
10 single-shot trials per fold, and two methods evaluated on the same queries. A query
of identity i, in fold f, by the network of method m trained with seed j, finds its
match first with probability

    p = 0.5 + alpha_i + delta_mi + beta_mjf + gamma_mjfi   (clipped to [0.02, 0.98]),

alpha the identity's difficulty (shared by the methods: the pairing), delta the
method's identity effect, beta the training effect of one (seed, fold) network, gamma
its identity-specific part. Every effect is symmetric about 0 and the clipping is
symmetric about 0.5, so each method's expected value is exactly 0.5 and the expected
difference of the two is exactly 0: the truth the intervals and tests are checked on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Design:
    identities: int = 60       # the pool the folds draw their test identities from
    tested: int = 40           # test identities per fold (the folds overlap)
    folds: int = 3
    trials: int = 10
    seeds: int = 5
    images: tuple[int, int] = (4, 20)   # images per identity, uniform in [low, high]
    difficulty: float = 0.15
    method_identity: float = 0.05
    interaction: float = 0.05


def simulate(design: Design, training: float, replications: int, seed: int
             ) -> tuple[np.ndarray, np.ndarray]:
    """(num, den): hits and counted queries, (replications, methods=2, seeds, folds,
    identities), the trials of a fold summed (see below); ``training``: the standard deviation of a
    (seed, fold) network's effect on the hit rate."""
    rng = np.random.default_rng(seed)
    r, d = replications, design
    n, f, t, j = d.identities, d.folds, d.trials, d.seeds
    images = rng.integers(d.images[0], d.images[1] + 1, size=(r, n))
    order = rng.random((r, f, n)).argsort(axis=-1)
    tested = np.zeros((r, f, n), dtype=bool)
    np.put_along_axis(tested, order[..., :d.tested], True, axis=-1)
    queries = np.where(tested, images[:, None, :] - 1, 0)            # (r, f, n)
    alpha = d.difficulty * rng.standard_normal((r, 1, 1, 1, n))
    delta = d.method_identity * rng.standard_normal((r, 2, 1, 1, n))
    beta = training * rng.standard_normal((r, 2, j, f, 1))
    gamma = d.interaction * rng.standard_normal((r, 2, j, f, n))
    p = np.clip(0.5 + alpha + delta + beta + gamma, 0.02, 0.98)       # (r, 2, j, f, n)
    # The trials of a fold count the same queries, so the table's mean over them of
    # each trial's hit rate is the fold's hits over all trials divided by trials x
    # queries: one slot per fold with t x queries draws gives the same values.
    # Hits are binomial; its normal approximation (tens to hundreds of draws per cell)
    # keeps the simulation within the suite's time.
    den = np.broadcast_to(t * queries[:, None, None, :, :], (r, 2, j, f, n)).astype(float)
    num = den * p + np.sqrt(den * p * (1 - p)) * rng.standard_normal(den.shape)
    return num, den


def ratio_values(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """The table's value (mean over slots of each slot's hit rate), over the last two
    axes (slots, identities); every simulated slot counts queries."""
    return (num.sum(axis=-1) / den.sum(axis=-1)).mean(axis=-1)

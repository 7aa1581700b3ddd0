"""What each query scored in one setting, as every protocol reports it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class QueryOutcomes:
    """What each query scored in one setting: the data of intervals and paired tests.

    ``pids`` (n_query,) identities; ``ranks`` (trials, n_query) the 0-based rank of the
    first true match in each trial's single-shot gallery, -1 where the query did not count
    in that trial (dropped with its twin, or no true match); ``ap`` (n_query,) multi-shot
    AP, NaN without a true match.
    """

    pids: np.ndarray
    ranks: np.ndarray
    ap: np.ndarray

    def __eq__(self, other: object) -> bool:
        return isinstance(other, QueryOutcomes) and all(
            np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
            for a, b in zip((self.pids, self.ranks, self.ap),
                            (other.pids, other.ranks, other.ap), strict=True))

"""KISSME (Koestinger, Hirzer, Wohlhart, Roth and Bischof, "Large Scale Metric Learning
from Equivalence Constraints", CVPR 2012) as a cross-view metric.

It pairs with every feature that describes RGB and depth in one space (``whos-kissme``,
``lomo-kissme``, ``pixels-kissme``). As the KISSME toolbox does (its copy in
``zhunzhong07/person-re-ranking`` at 278f2c7, ``evaluation/KISSME/toolbox/``):

* features are reduced by PCA learned on the training samples of both views, not
  whitened (``lib/LMNN/.svn/text-base/applypca.m.svn-base:24``);
* ``Sigma_S`` and ``Sigma_D`` are the sums of outer products of the differences of
  similar and of dissimilar pairs over their pair counts
  (``learnAlgos/LearnAlgoKISSME.m:125,128``); the pairs are every (view a, view b)
  sample pair, similar when their identities agree, summed without forming pairs;
* ``M = inv(Sigma_S) - lambda inv(Sigma_D)`` with lambda = 1
  (``LearnAlgoKISSME.m:133,61``), projected onto the positive semi-definite cone
  (``pmetric = 1``, ``LearnAlgoKISSME.m:69,137``) as ``helper/validateCovMatrix.m:12-29``
  does: when ``cholcov`` fails (an eigenvalue below -10 eps of its scale), every eigenvalue
  <= 1e-10 becomes 1e-6. ``M`` is symmetrised first, so ``eigh`` applies;
* the distance is ``(x - y)' M (x - y)`` (``helper/cdistM.m:18``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from methods.api import (
    ConfigError,
    CrossViewMetric,
    PairedViews,
    mahalanobis_distance,
    register_metric,
)


@dataclass(frozen=True)
class KissmeOptions:
    """Attributes:
        kissme_dim: PCA dimensions (the toolbox's VIPeR demo: 34).
        max_frames_per_identity: training frames per identity and per view, drawn with
            the task's seed (``None``: all), as XQDA's option of the same name.
    """

    kissme_dim: int = 34
    max_frames_per_identity: int | None = 30

    def __post_init__(self) -> None:
        for name, value in (("kissme_dim", self.kissme_dim),
                            ("max_frames_per_identity", self.max_frames_per_identity)):
            if (value is not None or name == "kissme_dim") and (
                    isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def psd_projection(M: np.ndarray) -> np.ndarray:
    """``M`` symmetrised; if not positive semi-definite, eigenvalues <= 1e-10 -> 1e-6."""
    M = (M + M.T) / 2
    values, vectors = np.linalg.eigh(M)
    if values.min() >= -10 * np.spacing(np.abs(values).max()):
        return M
    values = np.where(values <= 1e-10, 1e-6, values)
    return (vectors * values) @ vectors.T


def difference_scatter(a: np.ndarray, b: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """sum_ij weight[i, j] (a_i - b_j)(a_i - b_j)' for a 0/1 ``weight`` of pairs."""
    row, col = weight.sum(1), weight.sum(0)
    cross = a.T @ weight @ b
    return (a * row[:, None]).T @ a + (b * col[:, None]).T @ b - cross - cross.T


@register_metric("kissme")
class Kissme(CrossViewMetric):
    """KISSME between the two views (see the module docstring)."""

    summary = "KISSME metric learned between RGB and depth"
    Options = KissmeOptions

    @property
    def frames_per_identity(self) -> int | None:
        return self.options.max_frames_per_identity

    def fit(self, X_a: np.ndarray, X_b: np.ndarray, y_a: np.ndarray, y_b: np.ndarray,
            validation: PairedViews | None = None) -> Kissme:
        both = np.concatenate([X_a, X_b])
        self.mean_ = both.mean(axis=0)
        _, _, vt = np.linalg.svd(both - self.mean_, full_matrices=False)
        self.axes_ = vt[:max(1, min(self.options.kissme_dim, len(both) - 1))].T
        a, b = self.transform(X_a, "a"), self.transform(X_b, "b")
        similar = (np.asarray(y_a)[:, None] == np.asarray(y_b)[None]).astype(float)
        if not similar.any() or similar.all():
            raise ValueError("KISSME needs similar and dissimilar pairs across the views")
        sigma_s = difference_scatter(a, b, similar) / similar.sum()
        sigma_d = difference_scatter(a, b, 1 - similar) / (1 - similar).sum()
        self.M_ = psd_projection(np.linalg.inv(sigma_s) - np.linalg.inv(sigma_d))
        return self

    def transform(self, X: np.ndarray, view: str) -> np.ndarray:
        if view not in ("a", "b"):
            raise ValueError(f"unknown view {view!r}; expected 'a' or 'b'")
        return (np.asarray(X, dtype=np.float64) - self.fitted("mean_")) @ self.axes_

    def distance(self, Q: np.ndarray, G: np.ndarray) -> np.ndarray:
        return mahalanobis_distance(self.fitted("M_"), Q, G)

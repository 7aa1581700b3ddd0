"""Regularised canonical correlation analysis between two paired feature spaces.

Hotelling's CCA with ridge terms on both covariances, solved by whitening and one SVD
(the textbook route; scikit-learn's ``CCA`` is an iterative PLS variant without a ridge
and much slower on thousands of dimensions):
C_xx' = C_xx + r (tr C_xx / d_x) I, likewise C_yy'; the SVD of
C_xx'^(-1/2) C_xy C_yy'^(-1/2) = U S V' gives the projections A = C_xx'^(-1/2) U and
B = C_yy'^(-1/2) V and the canonical correlations S. The ridge is relative to the mean
variance, so one grid of ``r`` suits features of any scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CanonicalProjections:
    """Means, projections (columns by falling correlation) and the correlations."""

    mean_x: np.ndarray
    mean_y: np.ndarray
    A: np.ndarray
    B: np.ndarray
    correlations: np.ndarray

    def transform_x(self, x: np.ndarray, dim: int) -> np.ndarray:
        return (x - self.mean_x) @ self.A[:, :dim]

    def transform_y(self, y: np.ndarray, dim: int) -> np.ndarray:
        return (y - self.mean_y) @ self.B[:, :dim]


def _inverse_sqrt(cov: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(cov)
    return (vectors / np.sqrt(np.maximum(values, 1e-12 * values.max()))) @ vectors.T


def fit_cca(x: np.ndarray, y: np.ndarray, ridge: float) -> CanonicalProjections:
    """CCA of paired rows ``x`` (n, d_x) and ``y`` (n, d_y) with relative ridge ``ridge``."""
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y
    n = len(x) - 1
    cxx, cyy, cxy = xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n
    cxx += ridge * np.trace(cxx) / len(cxx) * np.eye(len(cxx))
    cyy += ridge * np.trace(cyy) / len(cyy) * np.eye(len(cyy))
    wx, wy = _inverse_sqrt(cxx), _inverse_sqrt(cyy)
    u, s, vt = np.linalg.svd(wx @ cxy @ wy, full_matrices=False)
    return CanonicalProjections(mean_x, mean_y, wx @ u, wy @ vt.T, s)

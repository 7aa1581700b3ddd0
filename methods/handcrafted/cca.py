"""Regularised canonical correlation analysis between two paired feature spaces.

Hotelling's CCA with ridge terms on both covariances, solved by whitening and one SVD
(the textbook route; scikit-learn's ``CCA`` is an iterative PLS variant without a ridge
and much slower on thousands of dimensions):
C_xx' = C_xx + r (tr C_xx / d_x) I, likewise C_yy'; the SVD of
C_xx'^(-1/2) C_xy C_yy'^(-1/2) = U S V' gives the projections A = C_xx'^(-1/2) U and
B = C_yy'^(-1/2) V and the canonical correlations S. The ridge is relative to the mean
variance, so one grid of ``r`` suits features of any scale.

As a cross-view metric (:class:`Cca`), each view is standardised and reduced by PCA on
the training frames, the CCA dimension and ridge are the pair of the option grids with
the best mean cross-modal rank-1 on the validation identities (each validation frame
queries the other view's frames, its own twin left out), and embeddings are the
unit-length canonical projections, compared by Euclidean distance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.hog_siltp import unit_rows
from methods.core.distance import euclidean_distance
from methods.core.errors import ConfigError
from methods.handcrafted.cross_view import CrossViewMetric, PairedViews, check_view, register_metric
from methods.handcrafted.features import check_positive_ints
from methods.handcrafted.reduction import StandardisedPca


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


def cross_modal_rank1(rgb: np.ndarray, depth: np.ndarray, pids: np.ndarray) -> float:
    """Mean rank-1 of RGB->depth and depth->RGB over frames, each query's twin left out."""
    distances = euclidean_distance(rgb, depth)
    np.fill_diagonal(distances, np.inf)
    hits = [pids[np.argmin(distances, axis=1)] == pids,
            pids[np.argmin(distances, axis=0)] == pids]
    return float(np.mean(hits))


@dataclass(frozen=True)
class CcaOptions:
    """CCA's options as a cross-view metric.

    Attributes:
        max_frames_per_identity: training frames per identity for CCA (drawn with the
            task's seed; ``None`` = all).
        pca_dim: dimensions each view keeps before CCA (at most frames - 1).
        cca_dims, cca_ridges: the grids the validation identities choose from.
    """

    max_frames_per_identity: int | None = 8
    pca_dim: int = 128
    cca_dims: tuple[int, ...] = (8, 16, 32, 64)
    cca_ridges: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)

    def __post_init__(self) -> None:
        check_positive_ints(self, "pca_dim")
        check_positive_ints(self, "max_frames_per_identity", optional=True)
        for name in ("cca_dims", "cca_ridges"):
            values = getattr(self, name)
            if not isinstance(values, (tuple, list)) or not values \
                    or not all(isinstance(v, (int, float)) and v > 0 for v in values):
                raise ConfigError(f"{name} must be a non-empty list of positive numbers, "
                                  f"got {values!r}")
            object.__setattr__(self, name, tuple(values))


@register_metric("cca")
class Cca(CrossViewMetric):
    """Regularised CCA between row-paired views, its settings chosen on validation."""

    summary = "linked by regularised CCA"
    Options = CcaOptions
    paired = True
    links_spaces = True
    uses_validation = True

    @property
    def frames_per_identity(self) -> int | None:
        return self.options.max_frames_per_identity

    def fit(self, X_a: np.ndarray, X_b: np.ndarray, y_a: np.ndarray, y_b: np.ndarray,
            validation: PairedViews | None = None) -> Cca:
        if len(X_a) != len(X_b) or validation is None:
            raise ValueError("CCA learns from row-paired views and selects its dimension "
                             "and ridge on row-paired validation views")
        self.reduce_ = {"a": StandardisedPca(X_a, self.options.pca_dim),
                        "b": StandardisedPca(X_b, self.options.pca_dim)}
        x, y = self.reduce_["a"](X_a), self.reduce_["b"](X_b)
        val_x, val_y = self.reduce_["a"](validation.a), self.reduce_["b"](validation.b)
        best = (-1.0, 0.0, 0)
        self.selection_: list[dict[str, float]] = []
        for ridge in self.options.cca_ridges:
            model = fit_cca(x, y, ridge)
            for dim in self.options.cca_dims:
                score = cross_modal_rank1(unit_rows(model.transform_x(val_x, dim)),
                                          unit_rows(model.transform_y(val_y, dim)),
                                          validation.labels)
                self.selection_.append({"ridge": ridge, "dim": dim, "val_rank1": score})
                if score > best[0]:
                    best = (score, ridge, dim)
        _, ridge, self.dim_ = best
        self.model_ = fit_cca(x, y, ridge)
        return self

    def transform(self, X: np.ndarray, view: str) -> np.ndarray:
        model: CanonicalProjections = self.fitted("model_")
        reduced = self.reduce_[check_view(view)](X)
        projected = model.transform_x(reduced, self.dim_) if view == "a" else \
            model.transform_y(reduced, self.dim_)
        return unit_rows(projected)

    def distance(self, Q: np.ndarray, G: np.ndarray) -> np.ndarray:
        return euclidean_distance(Q, G)

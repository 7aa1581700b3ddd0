"""Cross-view Quadratic Discriminant Analysis (XQDA) metric learning.

Liao, Hu, Zhu and Li, "Person re-identification by local maximal occurrence
representation and metric learning", CVPR 2015. The numbers follow the authors' MATLAB
code (``XQDA.m`` and ``MahDist.m``, version 1.0 of the LOMO/XQDA release), including
where it differs from the paper's text; the differences are listed in :class:`XQDA`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
from scipy.linalg import lapack

from methods.core.errors import ConfigError
from methods.handcrafted.cross_view import (
    CrossViewMetric,
    NotFittedError,
    PairedViews,
    check_view,
    register_metric,
)

__all__ = ["XQDA", "NotFittedError", "Xqda", "XqdaOptions", "mahalanobis_distance"]


class XQDA:
    """Learns a subspace ``W`` and a metric kernel ``M`` from two views of labelled samples.

    Pairs (gallery sample, probe sample) of the same label form the intra-personal class,
    all other cross-view pairs the extra-personal class; XQDA keeps the directions in which
    extra-personal differences vary most relative to intra-personal ones and compares
    projected samples with ``M = inv(Sigma_I') - inv(Sigma_E')``.

    As the original code does:

    * When the feature dimension ``d`` exceeds ``n_gallery + n_probe``, the stacked samples
      are first replaced by their coordinates in an orthonormal basis of their span (thin
      QR, ``[Q, R] = qr([Xg' Xp'], 0)``) and the learned projection is ``W = Q V``. This
      gives the same subspace and distances as working in ``d`` dimensions, much faster.
    * The covariances of all intra- and extra-personal difference vectors are computed from
      per-class sums and count-weighted samples, without forming pairs; ``lam`` is added to
      the diagonal of the intra-personal covariance (after normalising by the pair count).
    * The directions are the left singular vectors of ``Sigma_I \\ Sigma_E``, and the
      "eigenvalues" that select them are its singular values (the paper describes an
      eigen-decomposition; the code uses ``svd``, which we follow). Singular vectors are
      unique up to sign, which changes neither ``M``'s effect nor any distance.
    * The subspace keeps the ``r`` directions whose value exceeds 1 (at least one, if none
      does); an explicit ``dims`` is an upper bound, also capped at ``r``.

    Parameters:
        lam: regulariser added to the diagonal of the intra-personal covariance (``>= 0``).
        dims: subspace dimension; ``None`` selects it automatically (see above).
        qr: ``None`` reduces by QR exactly when the original does (``d > n_gallery +
            n_probe``); ``True``/``False`` forces or skips the reduction (the result is the
            same up to rounding; skipping it costs ``O(d^3)``).

    Attributes (after :meth:`fit`):
        W_: (d, r) projection; a sample ``x`` (row) is projected as ``x @ W_``.
        M_: (r, r) metric kernel on projected samples.
        eigenvalues_: (k,) all values of ``Sigma_I \\ Sigma_E``, descending (as ``svd``
            returns them, so the original's extra sort changes nothing), where
            ``k`` is ``d`` or, after QR, ``min(d, n_gallery + n_probe)``.
        in_cov_: (r, r) projected intra-personal covariance (regularised).
        ex_cov_: (r, r) projected extra-personal covariance.
        n_components_: ``r``, the subspace dimension.
        classes_: the labels seen in either view, sorted.
        n_intra_, n_extra_: the numbers of intra- and extra-personal pairs.
    """

    def __init__(self, lam: float = 0.001, dims: int | None = None, *,
                 qr: bool | None = None) -> None:
        self.lam = lam
        self.dims = dims
        self.qr = qr

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The hyper-parameters, as passed to ``__init__``."""
        return {"lam": self.lam, "dims": self.dims, "qr": self.qr}

    def set_params(self, **params: Any) -> XQDA:
        """Set hyper-parameters by name; returns ``self``."""
        for name, value in params.items():
            if name not in self.get_params():
                raise ValueError(f"XQDA: unknown parameter {name!r}; known: "
                                 f"{sorted(self.get_params())}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"XQDA({args})"

    def fit(self, X_gallery: np.ndarray, X_probe: np.ndarray, y_gallery: np.ndarray,
            y_probe: np.ndarray) -> XQDA:
        """Learn ``W_`` and ``M_`` from the two views.

        Parameters:
            X_gallery: (n, d) samples of the gallery view.
            X_probe: (m, d) samples of the probe view.
            y_gallery: (n,) labels of the gallery samples.
            y_probe: (m,) labels of the probe samples.

        Returns:
            ``self``.
        """
        lam, dims = self._check_params()
        xg, xp, yg, yp = _check_data(X_gallery, X_probe, y_gallery, y_probe)
        n, d = xg.shape
        m = len(xp)

        use_qr = d > n + m if self.qr is None else bool(self.qr)
        reflectors = None
        if use_qr:
            reflectors, coords = scipy.linalg.qr(np.concatenate([xg, xp]).T, mode="raw",
                                                 overwrite_a=True, check_finite=False)
            xg, xp = coords[:, :n].T, coords[:, n:].T
            d_full, d = d, coords.shape[0]

        classes, index = np.unique(np.concatenate([yg, yp]), return_inverse=True)
        gi, pi = index[:n], index[n:]
        c = len(classes)
        n_k = np.bincount(gi, minlength=c).astype(np.float64)
        m_k = np.bincount(pi, minlength=c).astype(np.float64)
        gal_class_sum = np.eye(c)[gi].T @ xg
        prob_class_sum = np.eye(c)[pi].T @ xp
        n_intra = float(n_k @ m_k)
        n_extra = float(n) * float(m) - n_intra

        gal_sum = gal_class_sum.sum(0)
        prob_sum = prob_class_sum.sum(0)
        xg_w = np.sqrt(m_k)[gi, None] * xg
        xp_w = np.sqrt(n_k)[pi, None] * xp
        cross = gal_class_sum.T @ prob_class_sum
        in_cov = xg_w.T @ xg_w + xp_w.T @ xp_w - cross - cross.T
        outer = np.outer(gal_sum, prob_sum)
        ex_cov = m * (xg.T @ xg) + n * (xp.T @ xp) - outer - outer.T - in_cov
        in_cov /= n_intra
        ex_cov /= n_extra
        in_cov[np.diag_indices(d)] += lam

        left, values, _ = scipy.linalg.svd(_solve(in_cov, ex_cov), check_finite=False)
        r = int(np.sum(values > 1))
        keep = -1 if dims is None else min(dims, r)
        if keep <= 0:
            keep = max(1, r)
        v = left[:, :keep]

        self.in_cov_ = v.T @ in_cov @ v
        self.ex_cov_ = v.T @ ex_cov @ v
        self.M_ = np.linalg.inv(self.in_cov_) - np.linalg.inv(self.ex_cov_)
        self.W_ = v if reflectors is None else _apply_q(*reflectors, v, d_full)
        self.eigenvalues_ = values
        self.n_components_ = keep
        self.classes_ = classes
        self.n_intra_ = int(n_intra)
        self.n_extra_ = int(n_extra)
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, d) samples -> (n, r) coordinates in the learned subspace."""
        self._check_fitted()
        x = _as_matrix(X, "X")
        if x.shape[1] != self.W_.shape[0]:
            raise ValueError(f"XQDA: X has {x.shape[1]} features, the model was fitted on "
                             f"{self.W_.shape[0]}")
        return x @ self.W_

    def distance(self, X_query: np.ndarray, X_gallery: np.ndarray) -> np.ndarray:
        """(n_query, n_gallery) XQDA distances between (n_query, d) and (n_gallery, d) samples.

        Projects both sets with ``W_`` and applies :func:`mahalanobis_distance` with ``M_``.
        """
        query, gallery = self.transform(X_query), self.transform(X_gallery)
        return mahalanobis_distance(self.M_, query, gallery)

    def _check_fitted(self) -> None:
        if not hasattr(self, "M_"):
            raise NotFittedError("this XQDA instance is not fitted yet; call fit() first")

    def _check_params(self) -> tuple[float, int | None]:
        lam = self.lam
        if isinstance(lam, bool) or not isinstance(lam, (int, float, np.number)) \
                or not np.isfinite(lam) or lam < 0:
            raise ValueError(f"XQDA: lam must be a finite number >= 0, got {lam!r}")
        dims = self.dims
        if dims is not None and (isinstance(dims, bool)
                                 or not isinstance(dims, (int, np.integer)) or dims < 1):
            raise ValueError(f"XQDA: dims must be a positive integer or None, got {dims!r}")
        if self.qr not in (None, True, False):
            raise ValueError(f"XQDA: qr must be None, True or False, got {self.qr!r}")
        return float(lam), None if dims is None else int(dims)


def mahalanobis_distance(M: np.ndarray, X_query: np.ndarray,
                         X_gallery: np.ndarray) -> np.ndarray:
    """(n_query, n_gallery) distances ``(q - g)' M (q - g)`` of projected samples.

    Computed as ``MahDist(M, Xg, Xp)'`` of the original code with the gallery as ``Xg``
    and the queries as ``Xp``: ``u_g + v_q - 2 (Xg M) Xq'``, transposed. No square root
    and no clipping: with an indefinite ``M`` distances can be negative, as in the
    original. ``M`` is symmetric up to rounding, so swapping the two sets transposes the
    result (to about 1e-12 relative).

    Parameters:
        M: (r, r) metric kernel.
        X_query: (n_query, r) projected queries.
        X_gallery: (n_gallery, r) projected gallery samples.
    """
    kernel = np.asarray(M, dtype=np.float64)
    q = np.asarray(X_query, dtype=np.float64)
    g = np.asarray(X_gallery, dtype=np.float64)
    g_m = g @ kernel
    u = np.sum(g_m * g, axis=1)
    v = np.sum((q @ kernel) * q, axis=1)
    return (u[:, None] + v[None, :] - 2.0 * (g_m @ q.T)).T


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a \\ b`` for a symmetric ``a``: Cholesky, else LDL', as MATLAB's mldivide picks."""
    try:
        return scipy.linalg.solve(a, b, assume_a="pos", check_finite=False)
    except np.linalg.LinAlgError:
        return scipy.linalg.solve(a, b, assume_a="sym", check_finite=False)


def _apply_q(householder: np.ndarray, tau: np.ndarray, v: np.ndarray,
             rows: int) -> np.ndarray:
    """``Q @ v`` for the thin ``Q`` of a QR factorisation kept as Householder reflectors.

    Applying the reflectors costs far less than forming the (d, n) matrix ``Q``.
    """
    padded = np.zeros((rows, v.shape[1]), order="F")
    padded[:len(v)] = v
    a = householder[:, :len(tau)]
    *_, work, _ = lapack.dormqr("L", "N", a, tau, padded, lwork=-1)
    out, _, info = lapack.dormqr("L", "N", a, tau, padded,
                                              lwork=int(work[0].real), overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"dormqr failed with info={info}")
    return out


def _as_matrix(X: Any, name: str) -> np.ndarray:
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"XQDA: {name} must be a 2-D (n_samples, n_features) array, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"XQDA: {name} contains NaN or infinite values")
    return x


def _check_data(X_gallery: Any, X_probe: Any, y_gallery: Any,
                y_probe: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xg = _as_matrix(X_gallery, "X_gallery")
    xp = _as_matrix(X_probe, "X_probe")
    if xg.shape[1] != xp.shape[1]:
        raise ValueError(f"XQDA: X_gallery has {xg.shape[1]} features, X_probe has "
                         f"{xp.shape[1]}")
    yg, yp = np.asarray(y_gallery), np.asarray(y_probe)
    for name, y, x in (("y_gallery", yg, xg), ("y_probe", yp, xp)):
        if y.ndim != 1:
            raise ValueError(f"XQDA: {name} must be 1-D, got shape {y.shape}")
        if len(y) != len(x):
            raise ValueError(f"XQDA: {name} has {len(y)} labels for {len(x)} samples")
    shared = np.intersect1d(yg, yp)
    if len(shared) < 2:
        raise ValueError(f"XQDA: needs at least 2 labels present in both views, got "
                         f"{len(shared)}")
    return xg, xp, yg, yp


@dataclass(frozen=True)
class XqdaOptions:
    """XQDA's options as a cross-view metric.

    Attributes:
        lam: XQDA's regulariser of the intra-personal covariance (the original 0.001).
        max_frames_per_identity: at most this many training frames per identity and per
            view train XQDA, drawn at random (without replacement, independently for the
            two views) from a generator seeded with the task's seed; ``None`` uses all.
            XQDA's cost grows with the cube of the sample count (after its QR reduction
            LOMO's 26,960 dimensions become one per sample), so the default of 30 keeps
            a BIWI fold (32 identities -> 1,920 samples) at about 15 s of one core for
            LOMO and under 10 s for WHOS, whereas all ~19,000 frames would need a
            19,000 x 19,000 SVD. How many frames trained the paper's XQDA is not stated;
            the original MATLAB code is impractical on every frame, so it most likely
            used a subset of frames per identity.
    """

    lam: float = 0.001
    max_frames_per_identity: int | None = 30

    def __post_init__(self) -> None:
        if isinstance(self.lam, bool) or not isinstance(self.lam, (int, float)) \
                or not np.isfinite(self.lam) or self.lam < 0:
            raise ConfigError(f"lam must be a number >= 0, got {self.lam!r}")
        cap = self.max_frames_per_identity
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(f"max_frames_per_identity must be a positive integer or None, "
                              f"got {cap!r}")


@register_metric("xqda")
class Xqda(CrossViewMetric):
    """:class:`XQDA` as a cross-view metric: view ``a`` is XQDA's gallery view, ``b`` its
    probe view. Both views share the projection ``W_`` and the kernel ``M_`` is
    symmetric, so ``distance`` is the same function whichever view queries."""

    summary = "XQDA metric learned between RGB and depth"
    Options = XqdaOptions

    @property
    def frames_per_identity(self) -> int | None:
        return self.options.max_frames_per_identity

    def fit(self, X_a: np.ndarray, X_b: np.ndarray, y_a: np.ndarray, y_b: np.ndarray,
            validation: PairedViews | None = None) -> Xqda:
        self.model_ = XQDA(lam=self.options.lam).fit(X_a, X_b, y_a, y_b)
        return self

    def transform(self, X: np.ndarray, view: str) -> np.ndarray:
        check_view(view)
        return self.fitted("model_").transform(X)

    def distance(self, Q: np.ndarray, G: np.ndarray) -> np.ndarray:
        return mahalanobis_distance(self.fitted("model_").M_, Q, G)

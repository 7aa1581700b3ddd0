"""Least-square semi-coupled dictionary learning (LSSCDL), as the authors' MATLAB code.

Zhang, Li, Lu, Irie and Ruan, "Sample-Specific SVM Learning for Person
Re-identification", CVPR 2016; code ``MetricLearning/SSSVM_REID/functions/LSSCDL.m`` and
``JointDictLearning.m`` of the person re-identification benchmark
(``RSL-NEU/person-reid-benchmark``). Two spaces X (d_x x N) and W (d_w x N) of paired
columns get dictionaries Dx, Dw, codes Alphax, Alphaw and linear maps between the codes,
Mx (Alphaw ~ Mx Alphax) and Mw (Alphax ~ Mw Alphaw). Each iteration updates, in this
order and with the original's explicit inverses:

* Alphax = inv(Dx'Dx + l1 Mx'Mx + (l1 + lc) I) (Dx'X + l1 (Mx' + Mw) Alphaw)
* Alphaw = inv(Dw'Dw + l1 Mw'Mw + (l1 + lc) I) (Dw'W + l1 (Mw' + Mx) Alphax)
* Dw = W Alphaw' inv(Alphaw Alphaw' + ld I), then Dx likewise
* Mw = Alphax Alphaw' inv(Alphaw Alphaw' + (lm / l1) I), then
  Mx = Alphaw Alphax' inv(Alphax Alphax' + (lm / l1) I)

and stops after ``n_iter`` iterations or once |f_prev - f| / f < epsilon, where f (from
0 before the first iteration) adds Frobenius norms, not squared norms, as the code does:
|X - Dx Alphax| + |W - Dw Alphaw| + l1 (|Alphaw - Mx Alphax| + |Alphax - Mw Alphaw|)
+ lc (|Alphax| + |Alphaw|) + lm (|Mx| + |Mw|) + ld (|Dx| + |Dw|).
Initialisation (``JointDictLearning.m``): uniform [0, 1) dictionaries and codes with K
atoms, identity maps. A sample is coded as MatchScore.m does: inv(D'D + lc I) D' x.

As a cross-view metric (:class:`Lsscdl`): each view's features are standardised, reduced
by PCA on the training frames and scaled to unit length, and become X (view ``a``) and W
(view ``b``), with K = the number of training frames as in the original. A sample is
coded in its own view's dictionary; view ``a`` embeds as [alpha_x, Mx alpha_x], view
``b`` as [Mw alpha_w, alpha_w], so their squared Euclidean distance is
|alpha_x - Mw alpha_w|^2 + |Mx alpha_x - alpha_w|^2, both coupling terms of the objective.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.hog_siltp import unit_rows
from methods.core.distance import euclidean_distance
from methods.handcrafted.cross_view import CrossViewMetric, PairedViews, check_view, register_metric
from methods.handcrafted.features import check_positive_ints
from methods.handcrafted.reduction import StandardisedPca


@dataclass(frozen=True)
class LsscdlParameters:
    """The original demo's values (``Demo_SSSVM.m``)."""

    lambda1: float = 0.1
    lambdac: float = 0.01
    lambdam: float = 0.01
    lambdad: float = 0.01
    n_iter: int = 100
    epsilon: float = 5e-3


@dataclass(frozen=True)
class LsscdlModel:
    """Learned dictionaries and code maps, the last objective value and the iterations."""

    Dx: np.ndarray
    Dw: np.ndarray
    Mx: np.ndarray
    Mw: np.ndarray
    Alphax: np.ndarray
    Alphaw: np.ndarray
    objective: float
    iterations: int


def initial_state(d_x: int, d_w: int, n: int, atoms: int, rng: np.random.Generator
                  ) -> dict[str, np.ndarray]:
    """JointDictLearning.m's start: rand dictionaries and codes, identity code maps.

    Drawn in its order (Dx, Dw, Alphax, Alphaw) from ``rng`` instead of MATLAB's rand.
    """
    return {"Dx": rng.random((d_x, atoms)), "Dw": rng.random((d_w, atoms)),
            "Alphax": rng.random((atoms, n)), "Alphaw": rng.random((atoms, n)),
            "Mx": np.eye(atoms), "Mw": np.eye(atoms)}


def lsscdl(X: np.ndarray, W: np.ndarray, Alphax: np.ndarray, Alphaw: np.ndarray,
           Dx: np.ndarray, Dw: np.ndarray, Mx: np.ndarray, Mw: np.ndarray,
           par: LsscdlParameters = LsscdlParameters()) -> LsscdlModel:
    """LSSCDL.m from the given start; X and W hold one sample per column."""
    l1, lc, lm, ld = par.lambda1, par.lambdac, par.lambdam, par.lambdad
    k = Alphax.shape[0]
    eye = np.eye(k)
    inv = np.linalg.inv
    fro = np.linalg.norm
    f = 0.0
    iterations = 0
    for iterations in range(1, par.n_iter + 1):  # noqa: B007 (the count is returned)
        f_prev = f
        Alphax = inv(Dx.T @ Dx + l1 * Mx.T @ Mx + (l1 + lc) * eye) @ (
            Dx.T @ X + l1 * (Mx.T + Mw) @ Alphaw)
        Alphaw = inv(Dw.T @ Dw + l1 * Mw.T @ Mw + (l1 + lc) * eye) @ (
            Dw.T @ W + l1 * (Mw.T + Mx) @ Alphax)
        Dw = W @ Alphaw.T @ inv(Alphaw @ Alphaw.T + ld * eye)
        Dx = X @ Alphax.T @ inv(Alphax @ Alphax.T + ld * eye)
        Mw = Alphax @ Alphaw.T @ inv(Alphaw @ Alphaw.T + (lm / l1) * eye)
        Mx = Alphaw @ Alphax.T @ inv(Alphax @ Alphax.T + (lm / l1) * eye)
        fit = (fro(X - Dx @ Alphax) + fro(W - Dw @ Alphaw) + l1 * fro(Alphaw - Mx @ Alphax)
               + l1 * fro(Alphax - Mw @ Alphaw))
        size = (lc * (fro(Alphax) + fro(Alphaw)) + lm * fro(Mx) + lm * fro(Mw)
                + ld * (fro(Dx) + fro(Dw)))
        f = fit + size
        if abs(f_prev - f) / f < par.epsilon:
            break
    return LsscdlModel(Dx, Dw, Mx, Mw, Alphax, Alphaw, float(f), iterations)


def code(dictionary: np.ndarray, samples: np.ndarray, lambdac: float) -> np.ndarray:
    """(K, n) codes of columns ``samples``: inv(D'D + lc I) D' x, as MatchScore.m."""
    k = dictionary.shape[1]
    return np.linalg.inv(dictionary.T @ dictionary + lambdac * np.eye(k)) @ dictionary.T @ samples


@dataclass(frozen=True)
class LsscdlOptions:
    """LSSCDL's options as a cross-view metric (its own parameters are the original
    demo's, :class:`LsscdlParameters`).

    Attributes:
        lsscdl_frames_per_identity: training frames per identity for LSSCDL, whose
            dictionary has one atom per training frame (as in the original) and which
            inverts K x K matrices in each of up to 100 iterations; 4 keeps a BIWI fold at
            K = 128 and a quick fold at about 200, the order of the original's 316
            (VIPeR's training pairs).
        lsscdl_dim: dimensions each view keeps before LSSCDL.
    """

    lsscdl_frames_per_identity: int | None = 4
    lsscdl_dim: int = 64

    def __post_init__(self) -> None:
        check_positive_ints(self, "lsscdl_dim")
        check_positive_ints(self, "lsscdl_frames_per_identity", optional=True)


@register_metric("lsscdl")
class Lsscdl(CrossViewMetric):
    """LSSCDL between row-paired views (see the module docstring)."""

    summary = "linked by LSSCDL (exact to its code)"
    Options = LsscdlOptions
    paired = True
    links_spaces = True

    @property
    def frames_per_identity(self) -> int | None:
        return self.options.lsscdl_frames_per_identity

    def fit(self, X_a: np.ndarray, X_b: np.ndarray, y_a: np.ndarray, y_b: np.ndarray,
            validation: PairedViews | None = None) -> Lsscdl:
        if len(X_a) != len(X_b):
            raise ValueError("LSSCDL learns from row-paired views: X_a and X_b need as "
                             f"many rows, got {len(X_a)} and {len(X_b)}")
        self.reduce_ = {"a": StandardisedPca(X_a, self.options.lsscdl_dim),
                        "b": StandardisedPca(X_b, self.options.lsscdl_dim)}
        X = unit_rows(self.reduce_["a"](X_a)).T
        W = unit_rows(self.reduce_["b"](X_b)).T
        start = initial_state(len(X), len(W), X.shape[1], X.shape[1],
                              np.random.default_rng(self.seed))
        self.model_ = lsscdl(X, W, **start)
        return self

    def transform(self, X: np.ndarray, view: str) -> np.ndarray:
        m: LsscdlModel = self.fitted("model_")
        lc = LsscdlParameters().lambdac
        samples = unit_rows(self.reduce_[check_view(view)](X)).T
        if view == "a":
            alpha = code(m.Dx, samples, lc)
            return np.concatenate([alpha, m.Mx @ alpha]).T
        alpha = code(m.Dw, samples, lc)
        return np.concatenate([m.Mw @ alpha, alpha]).T

    def distance(self, Q: np.ndarray, G: np.ndarray) -> np.ndarray:
        return euclidean_distance(Q, G)

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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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

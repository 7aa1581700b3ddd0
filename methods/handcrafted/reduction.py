"""Per-view dimension reduction learned on training features: standardise, then PCA."""

from __future__ import annotations

import numpy as np


def pca(features: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, (d, k) components) of the top k = min(dim, n - 1, d) principal axes."""
    mean = features.mean(axis=0)
    _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
    k = max(1, min(dim, len(features) - 1, features.shape[1]))
    return mean, vt[:k].T


class StandardisedPca:
    """Standardise with training statistics, then project on training PCA axes."""

    def __init__(self, features: np.ndarray, dim: int) -> None:
        self.mean = features.mean(axis=0)
        scale = features.std(axis=0)
        self.scale = np.where(scale > 0, scale, 1.0)
        self.pca_mean, self.axes = pca(self._standard(features), dim)

    def _standard(self, features: np.ndarray) -> np.ndarray:
        return (features - self.mean) / self.scale

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return (self._standard(features) - self.pca_mean) @ self.axes

"""HOG/SLTP: the RGB-side descriptor of the Eigen-depth cross-modal rows (Table 3).

Zhuo et al. (CCCV 2017), whose numbers the paper copies, describe RGB crops by HOG and
SILTP histograms; their settings are not available, so this descriptor reuses the two
exact ports the suite already has, each with its original's settings for a 128x48
pedestrian crop:

* HOG as the WHOS code computes it (:func:`features.hog_dalal.hog_whos`: 8-pixel cells,
  2x2-cell blocks, 4 orientation bins, 1,200 values for 128x48);
* SILTP as LOMO computes it (:func:`features.local_maximal_occurrence.siltp_histograms`:
  10-pixel windows stepping 5 pixels, maximised along horizontal strips, 3 scales, radii
  3 and 5, 6,480 values for 128x48), which is robust to the light changes that separate
  the two modalities' recordings.

Each half is scaled to unit L2 norm, so texture (SILTP, 6,480 bins) does not outweigh
shape (HOG, 1,200 bins) by its length alone.
"""

from __future__ import annotations

import numpy as np

from features.hog_dalal import hog_whos
from features.local_maximal_occurrence import siltp_histograms


def hog_siltp(images: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) uint8 RGB crops -> (n, d) float64: [HOG / |HOG|, SILTP / |SILTP|]."""
    parts = [hog_whos(images), siltp_histograms(images)]
    return np.concatenate([unit_rows(np.asarray(p, dtype=np.float64)) for p in parts], axis=1)


def unit_rows(values: np.ndarray) -> np.ndarray:
    """Each row scaled to unit L2 norm (an all-zero row stays zero)."""
    norms = np.linalg.norm(values, axis=1, keepdims=True)
    return values / np.where(norms > 0, norms, 1.0)

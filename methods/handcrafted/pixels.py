"""The floor of every table: downsampled intensities compared by Euclidean distance.

It is also the README's example of a complete method.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from methods.core.matcher import Matcher
from methods.core.registry import register


@dataclass(frozen=True)
class PixelOptions:
    height: int = 16
    width: int = 8


def standardised_pixels(images: np.ndarray, modality: str, height: int, width: int
                        ) -> np.ndarray:
    """Each crop resized to height x width, per-image standardised grey values (depth:
    millimetres)."""
    if modality == "rgb":
        grey = np.asarray(images, dtype=np.float32) @ np.float32([0.299, 0.587, 0.114])
    else:
        grey = np.asarray(images, dtype=np.float32)
    small = np.stack([cv2.resize(g, (width, height), interpolation=cv2.INTER_AREA)
                      for g in grey])
    flat = small.reshape(len(small), -1).astype(np.float64)
    flat -= flat.mean(1, keepdims=True)
    flat /= flat.std(1, keepdims=True) + 1e-8
    return flat


@register("pixels-euclidean")
class PixelsEuclidean(Matcher):
    """Each crop resized to 16x8, per-image standardised grey values (depth: millimetres)."""

    summary = "downsampled, standardised intensities, Euclidean distance (a floor)"
    Options = PixelOptions
    deterministic_fit = True

    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        return standardised_pixels(images, modality, self.options.height, self.options.width)

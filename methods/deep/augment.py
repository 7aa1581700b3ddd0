"""Batched re-id augmentation as tensor ops on the training device.

Every transform works on a whole (b, c, h, w) float batch at once: crops and flips are
one ``grid_sample`` with per-image affine matrices, random erasing is one masked fill.
The random parameters are drawn on the CPU from a ``numpy.random.Generator`` (a few
numbers per image), so a seed fixes the augmentation on every device.

The crops are those of the authors' open-reid scripts: "rect-crop" draws an area of
64-100 % of the image and a height/width ratio of 2-3, keeps the first of ten draws
that fits inside the image (else the whole image) and resizes it to the input size;
"pad-crop" is the torchreid variant (zero-pad by 1/8 of each side, crop back at a
random offset).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROPS = ("rect-crop", "pad-crop", "none")
CROP_SOURCES = ("resized", "stored")
RESIZE_KERNELS = ("torch", "pil-bilinear")


@dataclass(frozen=True)
class Augmentation:
    """Which transforms a training batch gets.

    Attributes:
        crop: ``"rect-crop"``, ``"pad-crop"`` or ``"none"``.
        flip: mirror half of the images horizontally.
        erasing: probability of erasing one random rectangle of an image (0 = off).
    """

    crop: Literal[CROPS] = "rect-crop"
    flip: bool = True
    erasing: float = 0.0

    def __post_init__(self) -> None:
        if self.crop not in CROPS:
            raise ValueError(f"unknown crop {self.crop!r}; expected one of {CROPS}")
        if not 0.0 <= self.erasing <= 1.0:
            raise ValueError(f"erasing probability must be in [0, 1], got {self.erasing}")


def resize(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear (antialiased) resize of a (b, c, h, w) float batch to ``size`` (h, w)."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False,
                         antialias=True)


def rect_crop_boxes(rng: np.random.Generator, n: int, height: int | np.ndarray,
                    width: int | np.ndarray, scale: tuple[float, float] = (0.64, 1.0),
                    ratio: tuple[float, float] = (2.0, 3.0), attempts: int = 10
                    ) -> np.ndarray:
    """(n, 4) integer boxes (top, left, h, w): the authors' rectangular random crop
    (``open-reid/reid/utils/data/transforms.py:28-49``).

    Each image gets ``attempts`` draws of an area fraction in ``scale`` and a
    height/width ratio in ``ratio``; the first draw that fits is kept, the whole image
    otherwise. ``height`` and ``width`` are one size for all images or (n,) sizes.
    """
    height = np.broadcast_to(np.asarray(height), (n,))
    width = np.broadcast_to(np.asarray(width), (n,))
    area = rng.uniform(*scale, size=(n, attempts)) * height[:, None] * width[:, None]
    aspect = rng.uniform(*ratio, size=(n, attempts))
    h = np.rint(np.sqrt(area * aspect)).astype(np.int64)
    w = np.rint(np.sqrt(area / aspect)).astype(np.int64)
    fits = (h <= height[:, None]) & (w <= width[:, None])
    first = fits.argmax(axis=1)
    rows = np.arange(n)
    h = np.where(fits.any(axis=1), h[rows, first], height)
    w = np.where(fits.any(axis=1), w[rows, first], width)
    top = np.floor(rng.random(n) * (height - h + 1)).astype(np.int64)
    left = np.floor(rng.random(n) * (width - w + 1)).astype(np.int64)
    return np.stack([top, left, h, w], axis=1)


def pad_crop_boxes(rng: np.random.Generator, n: int, height: int, width: int,
                   fraction: float = 0.125) -> np.ndarray:
    """(n, 4) boxes of the image's size shifted by up to ``fraction`` of each side."""
    dy, dx = math.ceil(height * fraction), math.ceil(width * fraction)
    top = rng.integers(-dy, dy + 1, size=n)
    left = rng.integers(-dx, dx + 1, size=n)
    return np.stack([top, left, np.full(n, height), np.full(n, width)], axis=1)


def boxes_to_affine(boxes: np.ndarray, flips: np.ndarray, height: int, width: int
                    ) -> torch.Tensor:
    """(n, 2, 3) ``affine_grid`` matrices that sample each box (mirrored where ``flips``)."""
    top, left, h, w = (boxes[:, i].astype(np.float64) for i in range(4))
    theta = np.zeros((len(boxes), 2, 3), dtype=np.float32)
    theta[:, 0, 0] = np.where(flips, -1.0, 1.0) * w / width
    theta[:, 0, 2] = (2.0 * left + w) / width - 1.0
    theta[:, 1, 1] = h / height
    theta[:, 1, 2] = (2.0 * top + h) / height - 1.0
    return torch.from_numpy(theta)


def erasing_mask(rng: np.random.Generator, n: int, height: int, width: int,
                 probability: float, device: torch.device | str,
                 area: tuple[float, float] = (0.02, 0.4),
                 ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """(n, 1, h, w) bool: one random rectangle per image, for a ``probability`` of them."""
    chosen = rng.random(n) < probability
    target = rng.uniform(*area, size=n) * height * width
    aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1]), size=n))
    eh = np.clip(np.rint(np.sqrt(target * aspect)), 1, height).astype(np.int64)
    ew = np.clip(np.rint(np.sqrt(target / aspect)), 1, width).astype(np.int64)
    top = np.floor(rng.random(n) * (height - eh + 1)).astype(np.int64)
    left = np.floor(rng.random(n) * (width - ew + 1)).astype(np.int64)
    params = torch.from_numpy(np.stack([top, top + eh, left, left + ew,
                                        chosen.astype(np.int64)], axis=1)).to(device)
    ys = torch.arange(height, device=device)[None, :, None]
    xs = torch.arange(width, device=device)[None, None, :]
    p = params[:, :, None, None]
    mask = (ys >= p[:, 0]) & (ys < p[:, 1]) & (xs >= p[:, 2]) & (xs < p[:, 3]) & (p[:, 4] > 0)
    return mask[:, None]


def draw_flips(rng: np.random.Generator, n: int, flip: bool) -> np.ndarray:
    """(n,) bool: which images of a batch are mirrored (none, and no draw, without
    ``flip``). Every pipeline draws its flips here, so a seed mirrors the same images."""
    return rng.random(n) < 0.5 if flip else np.zeros(n, dtype=bool)


def mirrored(images: torch.Tensor, flips: np.ndarray) -> torch.Tensor:
    """A (b, c, h, w) batch with the images where ``flips`` mirrored exactly."""
    if not flips.any():
        return images
    mask = torch.from_numpy(flips).to(images.device).view(-1, 1, 1, 1)
    return torch.where(mask, images.flip(3), images)


def geometric(images: torch.Tensor, augmentation: Augmentation,
              rng: np.random.Generator) -> torch.Tensor:
    """Random crop and flip of a (b, c, h, w) float batch, output at the same size.

    Without a crop, flips are exact mirror images (no resampling), so a mirrored image
    is the same input every time it is drawn."""
    n, _, height, width = images.shape
    if augmentation.crop == "none":
        return mirrored(images, draw_flips(rng, n, augmentation.flip))
    if augmentation.crop == "rect-crop":
        boxes = rect_crop_boxes(rng, n, height, width)
    else:
        boxes = pad_crop_boxes(rng, n, height, width)
    flips = draw_flips(rng, n, augmentation.flip)
    theta = boxes_to_affine(boxes, flips, height, width).to(images.device, images.dtype)
    grid = F.affine_grid(theta, [n, images.shape[1], height, width], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def normalise(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Per-channel ``(x - mean) / std`` of a (b, c, h, w) batch; mean/std are (c,)."""
    return (images - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def erase(images: torch.Tensor, probability: float, rng: np.random.Generator) -> torch.Tensor:
    """Random erasing on a normalised batch: the rectangle becomes 0 (the data mean)."""
    if probability <= 0.0:
        return images
    n, _, height, width = images.shape
    mask = erasing_mask(rng, n, height, width, probability, images.device)
    return images.masked_fill(mask, 0.0)

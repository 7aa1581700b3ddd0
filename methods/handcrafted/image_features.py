"""The image features of the paper's conventional baselines (WHOS, LOMO) and the floor's
downsampled pixels, as registered features.

The paper extracts "the same features" from both modalities: a depth crop is turned into
a 3-channel 8-bit image (:func:`features.depth.depth_to_image`) and described by the same
extractor as an RGB crop, so both modalities' features share one space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from features.depth import DEPTH_ENCODINGS, depth_to_image
from methods.core.errors import ConfigError
from methods.handcrafted.features import Feature, modality_option, register_feature
from methods.handcrafted.pixels import PixelOptions, standardised_pixels


@dataclass(frozen=True)
class ImageFeatureOptions:
    """Options every image feature reads (profile section ``[options.handcrafted]``,
    which offers the fields of all handcrafted methods; each takes those it declares).

    Attributes:
        feature_size: (height, width) every crop is resized to before extraction; both
            extractors were designed for 128x48 pedestrian images. Shrinking uses
            ``cv2.INTER_AREA``, enlarging (either side smaller) ``cv2.INTER_LINEAR``.
        depth_encoding: how depth becomes a 3-channel image, one of
            :data:`features.depth.DEPTH_ENCODINGS`.
    """

    feature_size: tuple[int, int] = (128, 48)
    depth_encoding: str = modality_option("normalised", "depth")

    def __post_init__(self) -> None:
        size = self.feature_size
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                           for s in size)):
            raise ConfigError(f"feature_size must be two positive integers (height, width), "
                              f"got {size!r}")
        object.__setattr__(self, "feature_size", tuple(size))
        if self.depth_encoding not in DEPTH_ENCODINGS:
            raise ConfigError(f"depth_encoding must be one of {DEPTH_ENCODINGS}, got "
                              f"{self.depth_encoding!r}")


@dataclass(frozen=True)
class LomoOptions(ImageFeatureOptions):
    """LOMO's options.

    Attributes:
        retinex: LOMO's multi-scale Retinex preprocessing.
    """

    retinex: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.retinex, bool):
            raise ConfigError(f"retinex must be true or false, got {self.retinex!r}")


def resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, h, w, 3) uint8 -> (n, *size, 3): INTER_AREA when shrinking, else INTER_LINEAR."""
    height, width = size
    if images.shape[1:3] == (height, width):
        return images
    shrink = images.shape[1] >= height and images.shape[2] >= width
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(image, (width, height), interpolation=interpolation)
                     for image in images])


class ImageFeature(Feature):
    """An extractor of 3-channel 8-bit crops; depth is encoded as such an image first."""

    option_group = "handcrafted"
    Options = ImageFeatureOptions

    @staticmethod
    def load_extractor() -> Callable[..., np.ndarray]:
        """The descriptor function (imported when first needed)."""
        raise NotImplementedError

    def extractor_options(self) -> dict[str, Any]:
        """Keyword arguments of the descriptor function."""
        return {}

    def describe(self, inputs: np.ndarray, modality: str) -> np.ndarray:
        if modality == "depth":
            inputs = depth_to_image(inputs, self.options.depth_encoding)
        resized = resize(np.asarray(inputs, dtype=np.uint8), self.options.feature_size)
        extract = self.load_extractor()
        return np.asarray(extract(resized, **self.extractor_options()), dtype=np.float64)


@register_feature("whos")
class Whos(ImageFeature):
    summary = "WHOS features of RGB and depth images"

    @staticmethod
    def load_extractor() -> Callable[..., np.ndarray]:
        from features.whos_descriptor import whos

        return whos


@register_feature("lomo")
class Lomo(ImageFeature):
    summary = "LOMO features of RGB and depth images"
    Options = LomoOptions

    @staticmethod
    def load_extractor() -> Callable[..., np.ndarray]:
        from features.local_maximal_occurrence import lomo

        return lomo

    def extractor_options(self) -> dict[str, Any]:
        return {"retinex": self.options.retinex}


@register_feature("pixels")
class Pixels(Feature):
    """The floor's descriptor (:func:`methods.handcrafted.pixels.standardised_pixels`); its
    Euclidean pair is the hand-written ``pixels-euclidean``."""

    summary = "downsampled, standardised intensities"
    Options = PixelOptions
    cached = False

    def describe(self, inputs: np.ndarray, modality: str) -> np.ndarray:
        return standardised_pixels(inputs, modality, self.options.height, self.options.width)

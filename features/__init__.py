"""Handcrafted descriptors: pure functions of an image batch."""

from features.depth import depth_to_image, normalise_depth
from features.local_maximal_occurrence import lomo, lomo_dimension
from features.multiscale_retinex import retinex
from features.whos_descriptor import whos, whos_dimension

__all__ = ["depth_to_image", "lomo", "lomo_dimension", "normalise_depth", "retinex", "whos",
           "whos_dimension"]

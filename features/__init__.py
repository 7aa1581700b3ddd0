"""Handcrafted descriptors: pure functions of an image batch."""

from features.depth import depth_to_image, normalise_depth

__all__ = ["depth_to_image", "normalise_depth"]

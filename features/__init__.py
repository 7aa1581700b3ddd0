"""Handcrafted descriptors: pure functions of an image batch."""

from features.depth import depth_to_image, normalise_depth
from features.eigen_depth_descriptor import (
    eigen_depth,
    estimate_normals,
    person_point_cloud,
    segment_torso,
)
from features.hog_siltp import hog_siltp
from features.local_maximal_occurrence import lomo, lomo_dimension
from features.multiscale_retinex import retinex
from features.whos_descriptor import whos, whos_dimension

__all__ = ["depth_to_image", "eigen_depth", "estimate_normals", "hog_siltp", "lomo",
           "lomo_dimension", "normalise_depth", "person_point_cloud", "retinex",
           "segment_torso", "whos", "whos_dimension"]

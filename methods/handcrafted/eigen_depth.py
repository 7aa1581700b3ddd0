"""Eigen-depth's feature: depth by Eigen-depth, RGB by HOG/SLTP.

Table 3 of the paper copies three rows from Zhuo et al. (CCCV 2017): "Eigen-depth
HOG/SLTP" matched by CCA, by LSSCDL and by their own corresponding dictionaries. The
first two run here as (feature, metric) pairs of :mod:`methods.handcrafted.pairs` (the third
has no public description to follow):

* ``eigen-depth-euclidean`` (Table 1, depth to depth): the Eigen-depth vector
  [within, between] of each depth crop (:mod:`features.eigen_depth_descriptor`, equal to
  Wu et al.'s code), Euclidean distance, as Wu et al. compare it before metric learning.
  The two modalities are described differently, so a metric that learns nothing compares
  depth with depth only.
* ``eigen-depth-cca``: RGB crops described by HOG/SLTP (:mod:`features.hog_siltp`), depth
  crops by Eigen-depth, linked by regularised CCA (:class:`methods.handcrafted.cca.Cca`).
* ``eigen-depth-lsscdl``: the same features linked by LSSCDL
  (:class:`methods.handcrafted.lsscdl.Lsscdl`, equal to the original code).

Eigen-depth needs each depth crop's camera intrinsics, person mask and skeleton
(:class:`~methods.core.frames.PairedFrames`); missing masks and skeletons have
documented stand-ins (:mod:`features.eigen_depth_inputs`), missing intrinsics or depth
that is not in millimetres are errors. Features are cached per (data set, options) like
the other handcrafted features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from methods.core.errors import ConfigError, DatasetError
from methods.core.frames import PairedFrames
from methods.handcrafted.features import (
    Feature,
    check_positive_ints,
    modality_option,
    register_feature,
)
from methods.handcrafted.image_features import resize


@dataclass(frozen=True)
class EigenDepthOptions:
    """Options of the Eigen-depth feature (profile section ``[options.eigen_depth]``,
    which offers the fields of all its methods; each method takes those it declares).

    Attributes:
        feature_size: (height, width) RGB crops are resized to for HOG/SLTP (both parts'
            originals were designed for 128x48 pedestrians).
        n_col, n_row: Eigen-depth's patch grid (the original's 2 x 6).
    """

    feature_size: tuple[int, int] = modality_option((128, 48), "rgb")
    n_col: int = modality_option(2, "depth")
    n_row: int = modality_option(6, "depth")

    def __post_init__(self) -> None:
        size = self.feature_size
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(s, int) and s > 0 for s in size)):
            raise ConfigError(f"feature_size must be two positive integers, got {size!r}")
        object.__setattr__(self, "feature_size", tuple(size))
        check_positive_ints(self, "n_col", "n_row")


def depth_inputs(frames: PairedFrames) -> PairedFrames:
    """``frames`` checked for what Eigen-depth needs; DatasetError names what is missing."""
    if frames.intrinsics is None:
        raise DatasetError(
            "Eigen-depth needs each depth crop's camera intrinsics, and this data set's "
            "frames have none (the synthetic and raw BIWI data sets provide them)")
    if len(frames) and int(np.max(frames.depth)) <= 255:
        raise DatasetError(
            "Eigen-depth needs depth in millimetres, and this data set's depth crops hold "
            "8-bit grey levels (at most 255), as the prepared layout's images do")
    return frames


def pack_depth_frames(frames: PairedFrames) -> np.ndarray:
    """(n, bytes) uint8 rows holding each depth crop with its mask, joints and intrinsics:
    the feature cache's key material and the extractor's input. Layout: a has-mask byte,
    depth (uint16), mask (uint8, zeros when absent), 20 x 3 joints and 4 intrinsics
    (float64, joints NaN when absent)."""
    n = len(frames)
    has_mask = frames.masks is not None
    masks = frames.masks if has_mask else np.zeros(frames.depth.shape, np.uint8)
    joints = frames.skeletons if frames.skeletons is not None else np.full((n, 20, 3), np.nan)
    parts = [np.full((n, 1), has_mask, np.uint8),
             np.ascontiguousarray(frames.depth).view(np.uint8).reshape(n, -1),
             np.asarray(masks, dtype=np.uint8).reshape(n, -1)]
    for values in (joints, frames.intrinsics):
        parts.append(np.ascontiguousarray(values, dtype="<f8").view(np.uint8).reshape(n, -1))
    return np.concatenate(parts, axis=1)


def unpack_depth_frame(row: np.ndarray, shape: tuple[int, int]
                       ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """(depth, mask or None, joints or None, intrinsics) of one packed row."""
    pixels = shape[0] * shape[1]
    depth = row[1:1 + 2 * pixels].copy().view(np.uint16).reshape(shape)
    mask = row[1 + 2 * pixels:1 + 3 * pixels].reshape(shape)
    floats = row[1 + 3 * pixels:].copy().view("<f8")
    joints, intrinsics = floats[:60].reshape(20, 3), floats[60:64]
    return (depth, mask if row[0] else None,
            None if np.isnan(joints).all() else joints, intrinsics)


@register_feature("eigen-depth")
class EigenDepth(Feature):
    """Eigen-depth for depth crops (from whole frames), HOG/SLTP for RGB crops."""

    summary = "Eigen-depth (depth) and HOG/SLTP (RGB)"
    Options = EigenDepthOptions
    option_group = "eigen_depth"
    shared_space = False
    alone = ("depth",)
    frame_modalities = ("depth",)

    def inputs(self, frames: PairedFrames, modality: str) -> np.ndarray:
        """RGB crops, or packed depth frames (:func:`pack_depth_frames`) after the crop
        shape (two little-endian uint16)."""
        if modality == "rgb":
            return frames.images("rgb")
        packed = pack_depth_frames(depth_inputs(frames))
        shape = np.array(frames.depth.shape[1:], dtype="<u2").view(np.uint8)
        return np.concatenate([np.broadcast_to(shape, (len(packed), 4)), packed], axis=1)

    def describe(self, inputs: np.ndarray, modality: str) -> np.ndarray:
        if modality == "rgb":
            from features.hog_siltp import hog_siltp

            return hog_siltp(resize(np.asarray(inputs, dtype=np.uint8),
                                    self.options.feature_size))
        return self._depth_features(inputs)

    def _depth_features(self, rows: np.ndarray) -> np.ndarray:
        """Eigen-depth of packed frames, one frame per task on all usable CPUs (the
        k-d tree, sorts and SVDs release the GIL)."""
        from features.eigen_depth_descriptor import eigen_depth_dimension
        from features.eigen_depth_inputs import eigen_depth_of_crop
        from features.multiscale_retinex import map_chunks

        n_col, n_row = self.options.n_col, self.options.n_row
        shape = (0, 0) if not len(rows) else tuple(
            int(v) for v in np.ascontiguousarray(rows[0, :4]).view("<u2"))

        def describe(one: np.ndarray) -> np.ndarray:
            depth, mask, joints, intrinsics = unpack_depth_frame(one[0, 4:], shape)
            return eigen_depth_of_crop(depth, intrinsics, mask, joints, n_col, n_row)[None]

        out = np.empty((len(rows), eigen_depth_dimension(n_col, n_row)))
        return map_chunks(describe, rows, 1, out)

"""Eigen-depth rows: depth by Eigen-depth, RGB by HOG/SLTP, linked by CCA or LSSCDL.

Table 3 of the paper copies three rows from Zhuo et al. (CCCV 2017): "Eigen-depth
HOG/SLTP" matched by CCA, by LSSCDL and by their own corresponding dictionaries. The
first two run here (the third has no public description to follow):

* ``eigen-depth-euclidean`` (Table 1, depth to depth): the Eigen-depth vector
  [within, between] of each depth crop (:mod:`features.eigen_depth_descriptor`, equal to
  Wu et al.'s code), Euclidean distance, as Wu et al. compare it before metric learning.
* ``eigen-depth-cca``: RGB crops described by HOG/SLTP (:mod:`features.hog_siltp`), depth
  crops by Eigen-depth; each space is standardised and reduced by PCA on the training
  frames, then linked by regularised CCA (:mod:`methods.cca`). The CCA dimension and ridge
  are the pair of the option grids with the best mean cross-modal rank-1 on the
  validation identities (each validation frame queries the other modality's frames,
  its own twin left out). Embeddings are the unit-length canonical projections.
* ``eigen-depth-lsscdl``: the same PCA-reduced, unit-length features as X (RGB) and W
  (depth) of LSSCDL (:mod:`methods.lsscdl`, equal to the original code, with its
  parameters and initialisation), K = the number of training frames as in the original.
  A sample is coded in its own dictionary as the original's ``MatchScore.m`` does; RGB
  embeds as [alpha_x, Mx alpha_x], depth as [Mw alpha_w, alpha_w], so their squared
  Euclidean distance is |alpha_x - Mw alpha_w|^2 + |Mx alpha_x - alpha_w|^2, both
  coupling terms of the objective.

Eigen-depth needs each depth crop's camera intrinsics, person mask and skeleton
(:class:`~benchmark.datasets.frames.PairedFrames`); missing masks and skeletons have
documented stand-ins (:mod:`features.eigen_depth_inputs`), missing intrinsics or depth
that is not in millimetres are errors. Features are cached per (data set, options) like
the other handcrafted features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from benchmark.datasets.frames import MODALITIES, PairedFrames
from benchmark.errors import ConfigError, DatasetError
from features.hog_siltp import unit_rows
from methods.base import CROSS_MODAL, DEPTH_ONLY, Matcher, euclidean_distance
from methods.cca import CanonicalProjections, fit_cca
from methods.context import TaskContext
from methods.feature_store import FeatureStore
from methods.fingerprint import code_digest
from methods.handcrafted import cap_frames, resize
from methods.lsscdl import LsscdlModel, LsscdlParameters, code, initial_state, lsscdl
from methods.registry import register


def _positive_ints(options: Any, *names: str, optional: bool = False) -> None:
    for name in names:
        value = getattr(options, name)
        if optional and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer{' or None' * optional}, "
                              f"got {value!r}")


@dataclass(frozen=True)
class EigenDepthOptions:
    """Options every Eigen-depth method reads (profile section ``[options.eigen_depth]``,
    which offers the fields of all of them; each method takes those its class declares).

    Attributes:
        feature_size: (height, width) RGB crops are resized to for HOG/SLTP (both parts'
            originals were designed for 128x48 pedestrians).
        n_col, n_row: Eigen-depth's patch grid (the original's 2 x 6).
    """

    feature_size: tuple[int, int] = (128, 48)
    n_col: int = 2
    n_row: int = 6

    def __post_init__(self) -> None:
        size = self.feature_size
        if (not isinstance(size, (tuple, list)) or len(size) != 2
                or not all(isinstance(s, int) and s > 0 for s in size)):
            raise ConfigError(f"feature_size must be two positive integers, got {size!r}")
        object.__setattr__(self, "feature_size", tuple(size))
        _positive_ints(self, "n_col", "n_row")


@dataclass(frozen=True)
class CcaOptions(EigenDepthOptions):
    """The CCA row's options.

    Attributes:
        max_frames_per_identity: training frames per identity for CCA (drawn with the
            task's seed; ``None`` = all).
        pca_dim: dimensions each modality keeps before CCA (at most frames - 1).
        cca_dims, cca_ridges: the grids the validation identities choose from.
    """

    max_frames_per_identity: int | None = 8
    pca_dim: int = 128
    cca_dims: tuple[int, ...] = (8, 16, 32, 64)
    cca_ridges: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0)

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive_ints(self, "pca_dim")
        _positive_ints(self, "max_frames_per_identity", optional=True)
        for name in ("cca_dims", "cca_ridges"):
            values = getattr(self, name)
            if not isinstance(values, (tuple, list)) or not values \
                    or not all(isinstance(v, (int, float)) and v > 0 for v in values):
                raise ConfigError(f"{name} must be a non-empty list of positive numbers, "
                                  f"got {values!r}")
            object.__setattr__(self, name, tuple(values))


@dataclass(frozen=True)
class LsscdlOptions(EigenDepthOptions):
    """The LSSCDL row's options.

    Attributes:
        lsscdl_frames_per_identity: training frames per identity for LSSCDL, whose
            dictionary has one atom per training frame (as in the original) and which
            inverts K x K matrices in each of up to 100 iterations; 4 keeps a BIWI fold at
            K = 128 and a quick fold at about 200, the order of the original's 316
            (VIPeR's training pairs).
        lsscdl_dim: dimensions each modality keeps before LSSCDL, whose own parameters
            are the original demo's (:class:`methods.lsscdl.LsscdlParameters`).
    """

    lsscdl_frames_per_identity: int | None = 4
    lsscdl_dim: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        _positive_ints(self, "lsscdl_dim")
        _positive_ints(self, "lsscdl_frames_per_identity", optional=True)


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


def pca(features: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, (d, k) components) of the top k = min(dim, n - 1, d) principal axes."""
    mean = features.mean(axis=0)
    _, _, vt = np.linalg.svd(features - mean, full_matrices=False)
    k = max(1, min(dim, len(features) - 1, features.shape[1]))
    return mean, vt[:k].T


def cross_modal_rank1(rgb: np.ndarray, depth: np.ndarray, pids: np.ndarray) -> float:
    """Mean rank-1 of RGB->depth and depth->RGB over frames, each query's twin left out."""
    distances = euclidean_distance(rgb, depth)
    np.fill_diagonal(distances, np.inf)
    hits = [pids[np.argmin(distances, axis=1)] == pids,
            pids[np.argmin(distances, axis=0)] == pids]
    return float(np.mean(hits))


def feature_code(modality: str) -> str:
    """The code digest of the functions that compute one modality's features."""
    from features.eigen_depth_descriptor import eigen_depth_dimension
    from features.eigen_depth_inputs import eigen_depth_of_crop
    from features.hog_siltp import hog_siltp
    from features.multiscale_retinex import map_chunks

    if modality == "rgb":
        return code_digest(hog_siltp, resize)
    return code_digest(eigen_depth_of_crop, eigen_depth_dimension, map_chunks,
                       unpack_depth_frame, pack_depth_frames, depth_inputs)


class EigenDepthMethod(Matcher):
    """Eigen-depth for depth crops, HOG/SLTP for RGB crops, both from a feature cache."""

    option_group = "eigen_depth"
    Options = EigenDepthOptions

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        super().__init__(context, **options)
        self._stores: dict[str, FeatureStore] = {}

    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        if modality == "depth":
            raise DatasetError(f"method {self.name!r} describes a depth crop with its camera "
                               f"intrinsics, mask and skeleton: embed whole frames "
                               f"(embed_frames), not depth images alone")
        return self.project(self._cached("rgb", np.asarray(images), self._rgb_features), "rgb")

    def embed_frames(self, frames: PairedFrames, modality: str) -> np.ndarray:
        return self.project(self.features(frames, modality), modality)

    def project(self, features: np.ndarray, modality: str) -> np.ndarray:
        """Features -> embeddings (identity unless the method learns a link)."""
        return features

    def features(self, frames: PairedFrames, modality: str) -> np.ndarray:
        """(n, d) HOG/SLTP (rgb) or Eigen-depth (depth) features, cached."""
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
        if modality == "rgb":
            return self._cached("rgb", np.asarray(frames.rgb), self._rgb_features)
        shape = frames.depth.shape[1:]
        return self._cached("depth", pack_depth_frames(depth_inputs(frames)),
                            lambda rows: self._depth_features(rows, shape))

    def _cached(self, modality: str, material: np.ndarray,
                compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        desc = f"{self.name} {modality} features"
        return self._store(modality).get(
            material, compute, tag=modality,
            progress=lambda batches: tqdm(batches, desc=desc, unit="batch", leave=False,
                                          disable=self.context.quiet))

    def _rgb_features(self, images: np.ndarray) -> np.ndarray:
        from features.hog_siltp import hog_siltp

        return hog_siltp(resize(np.asarray(images, dtype=np.uint8), self.options.feature_size))

    def _depth_features(self, rows: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Eigen-depth of packed frames, one frame per task on all usable CPUs (the
        k-d tree, sorts and SVDs release the GIL)."""
        from features.eigen_depth_descriptor import eigen_depth_dimension
        from features.eigen_depth_inputs import eigen_depth_of_crop
        from features.multiscale_retinex import map_chunks

        n_col, n_row = self.options.n_col, self.options.n_row

        def describe(one: np.ndarray) -> np.ndarray:
            depth, mask, joints, intrinsics = unpack_depth_frame(one[0], shape)
            return eigen_depth_of_crop(depth, intrinsics, mask, joints, n_col, n_row)[None]

        out = np.empty((len(rows), eigen_depth_dimension(n_col, n_row)))
        return map_chunks(describe, rows, 1, out)

    def _store(self, modality: str) -> FeatureStore:
        if modality not in self._stores:
            key: dict[str, Any] = {"extractor": "hog-siltp" if modality == "rgb" else
                                   "eigen-depth", "code": feature_code(modality),
                                   "modality": modality}
            if modality == "rgb":
                key["feature_size"] = list(self.options.feature_size)
            else:
                key["grid"] = [self.options.n_col, self.options.n_row]
            path = self.context.artifact_dir("features", key, per_fold=False)
            self._stores[modality] = FeatureStore(path)
            if self.context.forced_once(path):
                self._stores[modality].clear()
        return self._stores[modality]

    def reduced_training_pairs(self, train: PairedFrames, cap: int | None, dim: int
                               ) -> tuple[np.ndarray, np.ndarray]:
        """Row-paired (rgb, depth) features of at most ``cap`` random training frames per
        identity, each modality standardised and PCA-reduced to ``dim`` by a reduction
        learned on them (kept in ``self.reduce`` for :meth:`project`)."""
        rng = np.random.default_rng(self.context.seed)
        chosen = train.select(cap_frames(train.pids, cap, rng))
        features = {m: self.features(chosen, m) for m in MODALITIES}
        self.reduce = {m: _Reduction(f, dim) for m, f in features.items()}
        return self.reduce["rgb"](features["rgb"]), self.reduce["depth"](features["depth"])


@register("eigen-depth-euclidean")
class EigenDepthEuclidean(EigenDepthMethod):
    summary = "Eigen-depth of depth crops (exact to Wu et al.'s code), Euclidean distance"
    settings = DEPTH_ONLY
    deterministic_fit = True


class _Reduction:
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


@register("eigen-depth-cca")
class EigenDepthCca(EigenDepthMethod):
    summary = "Eigen-depth (depth) and HOG/SLTP (RGB) linked by regularised CCA"
    settings = CROSS_MODAL
    Options = CcaOptions

    def fit(self, train: PairedFrames, val: PairedFrames) -> EigenDepthCca:
        x, y = self.reduced_training_pairs(train, self.options.max_frames_per_identity,
                                           self.options.pca_dim)
        val_x = self.reduce["rgb"](self.features(val, "rgb"))
        val_y = self.reduce["depth"](self.features(val, "depth"))
        best = (-1.0, 0.0, 0)
        self.selection: list[dict[str, float]] = []
        for ridge in self.options.cca_ridges:
            model = fit_cca(x, y, ridge)
            for dim in self.options.cca_dims:
                score = cross_modal_rank1(unit_rows(model.transform_x(val_x, dim)),
                                          unit_rows(model.transform_y(val_y, dim)), val.pids)
                self.selection.append({"ridge": ridge, "dim": dim, "val_rank1": score})
                if score > best[0]:
                    best = (score, ridge, dim)
        _, ridge, self.dim = best
        self.model: CanonicalProjections = fit_cca(x, y, ridge)
        return self

    def project(self, features: np.ndarray, modality: str) -> np.ndarray:
        reduced = self.reduce[modality](features)
        projected = self.model.transform_x(reduced, self.dim) if modality == "rgb" else \
            self.model.transform_y(reduced, self.dim)
        return unit_rows(projected)


@register("eigen-depth-lsscdl")
class EigenDepthLsscdl(EigenDepthMethod):
    Options = LsscdlOptions
    summary = "Eigen-depth (depth) and HOG/SLTP (RGB) linked by LSSCDL (exact to its code)"
    settings = CROSS_MODAL

    def fit(self, train: PairedFrames, val: PairedFrames) -> EigenDepthLsscdl:
        rgb, depth = self.reduced_training_pairs(
            train, self.options.lsscdl_frames_per_identity, self.options.lsscdl_dim)
        X, W = unit_rows(rgb).T, unit_rows(depth).T
        rng = np.random.default_rng(self.context.seed)
        start = initial_state(len(X), len(W), X.shape[1], X.shape[1], rng)
        self.model: LsscdlModel = lsscdl(X, W, **start)
        return self

    def project(self, features: np.ndarray, modality: str) -> np.ndarray:
        m, lc = self.model, LsscdlParameters().lambdac
        samples = unit_rows(self.reduce[modality](features)).T
        if modality == "rgb":
            alpha = code(m.Dx, samples, lc)
            return np.concatenate([alpha, m.Mx @ alpha]).T
        alpha = code(m.Dw, samples, lc)
        return np.concatenate([m.Mw @ alpha, alpha]).T

"""The paper's conventional baselines: WHOS or LOMO features, Euclidean or XQDA distance.

The paper extracts "the same features" from both modalities: a depth crop is turned into
a 3-channel 8-bit image (:func:`features.depth.depth_to_image`) and described by the same
extractor as an RGB crop. Features depend on the images only, so they are cached per
(data set, extractor, options, modality) in a :class:`~methods.feature_store.FeatureStore`
shared by all folds and by both metrics of an extractor.

Cross-modal XQDA treats the two modalities as its two views: RGB features of the
training identities are the *gallery* view, depth features the *probe* view, labels are
the identities. XQDA projects both modalities with the same ``W``, and its kernel ``M``
is symmetric, so ``distance(query, gallery) = (q - g)' M (q - g)`` is the same function
whichever modality the runner queries with: Query-Depth/Gallery-RGB gives the transpose
of Query-RGB/Gallery-Depth on the same images.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import cv2
import numpy as np
from tqdm import tqdm

from benchmark.datasets.frames import MODALITIES, PairedFrames
from benchmark.distance import euclidean_distance
from benchmark.errors import ConfigError
from features.depth import DEPTH_ENCODINGS, depth_to_image
from methods.base import CROSS_MODAL, Matcher
from methods.context import TaskContext
from methods.feature_store import FeatureStore
from methods.fingerprint import code_digest
from methods.registry import register
from methods.xqda import XQDA, mahalanobis_distance

Extractor = Callable[..., np.ndarray]


def _load_lomo() -> Extractor:
    from features.local_maximal_occurrence import lomo

    return lomo


def _load_whos() -> Extractor:
    from features.whos_descriptor import whos

    return whos




@dataclass(frozen=True)
class HandcraftedOptions:
    """Options every handcrafted method reads (profile section ``[options.handcrafted]``,
    which offers the fields of all of them; each method takes those its class declares).

    Attributes:
        feature_size: (height, width) every crop is resized to before extraction; both
            extractors were designed for 128x48 pedestrian images. Shrinking uses
            ``cv2.INTER_AREA``, enlarging (either side smaller) ``cv2.INTER_LINEAR``.
        depth_encoding: how depth becomes a 3-channel image, one of
            :data:`features.depth.DEPTH_ENCODINGS`.
    """

    feature_size: tuple[int, int] = (128, 48)
    depth_encoding: str = "normalised"

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
class LomoOptions(HandcraftedOptions):
    """The LOMO rows' options.

    Attributes:
        retinex: LOMO's multi-scale Retinex preprocessing.
    """

    retinex: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.retinex, bool):
            raise ConfigError(f"retinex must be true or false, got {self.retinex!r}")


@dataclass(frozen=True)
class XqdaOptions(HandcraftedOptions):
    """The XQDA rows' options.

    Attributes:
        lam: XQDA's regulariser of the intra-personal covariance (the original 0.001).
        max_frames_per_identity: at most this many training frames per identity and per
            modality train XQDA, drawn at random (without replacement, independently for
            RGB and depth) from a generator seeded with the task's seed; ``None`` uses all.
            XQDA's cost grows with the cube of the sample count (after its QR reduction
            LOMO's 26,960 dimensions become one per sample), so the default of 30 keeps
            a BIWI fold (32 identities -> 1,920 samples) at about 15 s of one core for
            LOMO and under 10 s for WHOS, whereas all ~19,000 frames would need a
            19,000 x 19,000 SVD. How many frames trained the paper's XQDA is not stated;
            the original MATLAB code is impractical on every frame, so it most likely
            used a subset of frames per identity.
    """

    lam: float = 0.001
    max_frames_per_identity: int | None = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.lam, bool) or not isinstance(self.lam, (int, float)) \
                or not np.isfinite(self.lam) or self.lam < 0:
            raise ConfigError(f"lam must be a number >= 0, got {self.lam!r}")
        cap = self.max_frames_per_identity
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise ConfigError(f"max_frames_per_identity must be a positive integer or None, "
                              f"got {cap!r}")


@dataclass(frozen=True)
class LomoXqdaOptions(LomoOptions, XqdaOptions):
    """The LOMO + XQDA row's options."""


def cap_frames(pids: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices keeping at most ``cap`` random rows of every identity."""
    pids = np.asarray(pids)
    if cap is None:
        return np.arange(len(pids))
    chosen = []
    for pid in np.unique(pids):
        rows = np.flatnonzero(pids == pid)
        chosen.append(rng.choice(rows, cap, replace=False) if len(rows) > cap else rows)
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


class Handcrafted(Matcher):
    """A feature extractor (``extractor``) followed by a metric (``metric``).

    ``euclidean`` needs no training; ``xqda`` learns XQDA from RGB (gallery view) and depth
    (probe view) features of the training identities. The validation identities are not
    used: nothing is tuned.
    """

    extractor: ClassVar[str] = ""
    load_extractor: ClassVar[Callable[[], Extractor]]
    metric: ClassVar[str] = "euclidean"
    settings = CROSS_MODAL
    option_group = "handcrafted"
    Options = HandcraftedOptions

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        super().__init__(context, **options)
        self.xqda = XQDA(lam=getattr(self.options, "lam", XqdaOptions.lam))
        self.training_rows: dict[str, np.ndarray] = {}
        self._stores: dict[str, FeatureStore] = {}

    def fit(self, train: PairedFrames, val: PairedFrames) -> Handcrafted:
        if self.metric != "xqda":
            return self
        rng = np.random.default_rng(self.context.seed)
        cap = self.options.max_frames_per_identity
        self.training_rows = {m: cap_frames(train.pids, cap, rng) for m in MODALITIES}
        rgb, depth = self.training_rows["rgb"], self.training_rows["depth"]
        self.xqda.fit(self.features(train.rgb[rgb], "rgb"),
                      self.features(train.depth[depth], "depth"),
                      train.pids[rgb], train.pids[depth])
        return self

    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        """Features, projected into the XQDA subspace for the ``xqda`` metric."""
        features = self.features(images, modality)
        return self.xqda.transform(features) if self.metric == "xqda" else features

    def distance(self, query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
        if self.metric == "xqda":
            return mahalanobis_distance(self.xqda.M_, query, gallery)
        return euclidean_distance(query, gallery)

    def features(self, images: np.ndarray, modality: str) -> np.ndarray:
        """(n, d) features of raw crops of one modality, from the cache where possible."""
        if modality not in MODALITIES:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
        desc = f"{self.name} {modality} features"
        return self._store(modality).get(
            images, lambda batch: self._extract(batch, modality), tag=modality,
            progress=lambda batches: tqdm(batches, desc=desc, unit="batch", leave=False,
                                          disable=self.context.quiet))

    def _extract(self, images: np.ndarray, modality: str) -> np.ndarray:
        if modality == "depth":
            images = depth_to_image(images, self.options.depth_encoding)
        resized = resize(np.asarray(images, dtype=np.uint8), self.options.feature_size)
        extract = type(self).load_extractor()
        return np.asarray(extract(resized, **self._extractor_options()), dtype=np.float64)

    def _extractor_options(self) -> dict[str, Any]:
        return {"retinex": self.options.retinex} if self.extractor == "lomo" else {}

    def _store(self, modality: str) -> FeatureStore:
        if modality not in self._stores:
            code = [type(self).load_extractor(), resize]
            key: dict[str, Any] = {
                "extractor": self.extractor,
                "code": code_digest(*code, *([depth_to_image] if modality == "depth" else [])),
                "modality": modality, "feature_size": list(self.options.feature_size),
                "options": self._extractor_options(),
            }
            if modality == "depth":
                key["depth_encoding"] = self.options.depth_encoding
            path = self.context.artifact_dir("features", key, per_fold=False)
            self._stores[modality] = FeatureStore(path)
            if self.context.forced_once(path):
                self._stores[modality].clear()
        return self._stores[modality]


def resize(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(n, h, w, 3) uint8 -> (n, *size, 3): INTER_AREA when shrinking, else INTER_LINEAR."""
    height, width = size
    if images.shape[1:3] == (height, width):
        return images
    shrink = images.shape[1] >= height and images.shape[2] >= width
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    return np.stack([cv2.resize(image, (width, height), interpolation=interpolation)
                     for image in images])


@register("whos-euclidean")
class WhosEuclidean(Handcrafted):
    summary = "WHOS features of RGB and depth images, Euclidean distance"
    extractor = "whos"
    load_extractor = staticmethod(_load_whos)
    metric = "euclidean"
    Options = HandcraftedOptions
    deterministic_fit = True


@register("whos-xqda")
class WhosXqda(Handcrafted):
    summary = "WHOS features, XQDA metric learned between RGB and depth"
    extractor = "whos"
    load_extractor = staticmethod(_load_whos)
    metric = "xqda"
    Options = XqdaOptions


@register("lomo-euclidean")
class LomoEuclidean(Handcrafted):
    summary = "LOMO features of RGB and depth images, Euclidean distance"
    extractor = "lomo"
    load_extractor = staticmethod(_load_lomo)
    metric = "euclidean"
    Options = LomoOptions
    deterministic_fit = True


@register("lomo-xqda")
class LomoXqda(Handcrafted):
    summary = "LOMO features, XQDA metric learned between RGB and depth"
    extractor = "lomo"
    load_extractor = staticmethod(_load_lomo)
    metric = "xqda"
    Options = LomoXqdaOptions

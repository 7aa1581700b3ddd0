"""Handcrafted methods: every registered feature paired with every cross-view metric that
fits its views, each pair a method named ``<feature>-<metric>``.

A feature (:mod:`methods.handcrafted.features`) describes RGB and/or depth crops; a metric
(:mod:`methods.handcrafted.cross_view`) learns from the training identities' features how to compare
them, RGB being its view ``a`` and depth its view ``b``. Which settings a pair is
evaluated on follows from what the two declare (:func:`pair_settings`). A pair's options
are its feature's options and its metric's (the pair's ``Options`` holds exactly those
fields, read from the feature's ``option_group`` section); its code fingerprint covers
both parts. Nobody writes a class for a pair: :func:`register_pairs` builds them when the
registry loads, after every built-in and installed feature and metric has registered; a
method registered by hand under a pair's name (``pixels-euclidean``) is that pair.

Features depend on the images only, so they are cached per (data set, feature, options,
modality) in a :class:`~methods.core.feature_store.FeatureStore` shared by all folds and by
every metric of a feature. The validation identities are used only by a metric that
selects its settings on them (CCA).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from methods.core.context import TaskContext
from methods.core.errors import ConfigError, DatasetError
from methods.core.feature_store import FeatureStore
from methods.core.fingerprint import code_digest
from methods.core.frames import MODALITIES, PairedFrames
from methods.core.matcher import CROSS_MODAL, Matcher
from methods.core.options import NoOptions
from methods.core.registry import after_loading, available_methods, register
from methods.handcrafted.cross_view import CrossViewMetric, PairedViews, available_metrics
from methods.handcrafted.features import Feature, available_features

log = logging.getLogger("rgbd_bench")
VIEW_OF = {"rgb": "a", "depth": "b"}


def pair_settings(feature: type[Feature], metric: type[CrossViewMetric]
                  ) -> tuple[tuple[str, str], ...]:
    """The (query, gallery) modalities a (feature, metric) pair is evaluated on; empty
    when they do not fit.

    Cross-modal when the feature describes both modalities in one space, or the metric
    learns one map per view; otherwise, for a metric that learns nothing, the modalities
    the feature compares alone (a feature of one modality: that one).
    """
    if set(MODALITIES) <= set(feature.modalities) and (feature.shared_space
                                                        or metric.links_spaces):
        return CROSS_MODAL
    if metric.learns:
        return ()
    alone = feature.alone or (feature.modalities if len(feature.modalities) == 1 else ())
    return tuple((m, m) for m in alone)


class PartsDigest:
    """A pair's ``version``: the code digest of its feature and metric classes, which the
    fingerprint of the shared pair class cannot see; computed when first read."""

    def __get__(self, instance: Any, owner: type) -> str:
        if not hasattr(owner, "feature_class"):
            return ""
        return _parts_digest(owner.feature_class, owner.metric_class)


@functools.cache
def _parts_digest(feature: type[Feature], metric: type[CrossViewMetric]) -> str:
    return code_digest(feature, metric)


class HandcraftedMethod(Matcher):
    """A feature (``feature_class``) compared by a cross-view metric (``metric_class``)."""

    feature_class: ClassVar[type[Feature]]
    metric_class: ClassVar[type[CrossViewMetric]]
    version = PartsDigest()

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        super().__init__(context, **options)
        self.feature = self.feature_class(_part(self.options, self.feature_class.Options))
        self.metric = self.metric_class(_part(self.options, self.metric_class.Options),
                                        seed=self.context.seed)
        self.training_rows: dict[str, np.ndarray] = {}
        self._stores: dict[str, FeatureStore] = {}

    def fit(self, train: PairedFrames, val: PairedFrames) -> HandcraftedMethod:
        """Fit the metric on features of (a seeded draw of) the training frames; view
        ``a`` is RGB, view ``b`` depth, rows paired when the metric needs it."""
        if not self.metric.learns:
            return self
        rows = self.metric.training_rows(train.pids, np.random.default_rng(self.context.seed))
        self.training_rows = dict(zip(MODALITIES, rows, strict=True))
        X_a = self.features(train.select(rows[0]), "rgb")
        X_b = self.features(train.select(rows[1]), "depth")
        validation = None
        if self.metric.uses_validation:
            validation = PairedViews(self.features(val, "rgb"), self.features(val, "depth"),
                                     val.pids)
        self.metric.fit(X_a, X_b, train.pids[rows[0]], train.pids[rows[1]], validation)
        return self

    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        if modality in self.feature.frame_modalities:
            raise DatasetError(f"method {self.name!r} describes a {modality} crop with more "
                               f"than its image (camera intrinsics, mask, skeleton): embed "
                               f"whole frames (embed_frames), not {modality} images alone")
        self._check(modality)
        return self.metric.transform(self._described(np.asarray(images), modality),
                                     VIEW_OF[modality])

    def embed_frames(self, frames: PairedFrames, modality: str) -> np.ndarray:
        return self.metric.transform(self.features(frames, modality), VIEW_OF[modality])

    def distance(self, query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
        return self.metric.distance(query, gallery)

    def features(self, frames: PairedFrames, modality: str) -> np.ndarray:
        """(n, d) features of one modality of ``frames``, from the cache where possible."""
        self._check(modality)
        return self._described(self.feature.inputs(frames, modality), modality)

    def _check(self, modality: str) -> None:
        if modality not in self.feature.modalities:
            raise ValueError(f"unknown modality {modality!r}; feature "
                             f"{self.feature.name!r} describes {self.feature.modalities}")

    def _described(self, inputs: np.ndarray, modality: str) -> np.ndarray:
        def describe(batch: np.ndarray) -> np.ndarray:
            return self.feature.describe(batch, modality)

        if not self.feature.cached:
            return describe(inputs)
        desc = f"{self.name} {modality} features"
        return self._store(modality).get(
            inputs, describe, tag=modality,
            progress=lambda batches: tqdm(batches, desc=desc, unit="batch", leave=False,
                                          disable=self.context.quiet))

    def _store(self, modality: str) -> FeatureStore:
        if modality not in self._stores:
            key = {"feature": self.feature.name, "code": code_digest(type(self.feature)),
                   "modality": modality, "options": self.feature.options_of(modality)}
            path = self.context.artifact_dir("features", key, per_fold=False)
            self._stores[modality] = FeatureStore(path)
            if self.context.forced_once(path):
                self._stores[modality].clear()
        return self._stores[modality]


def _part(options: Any, part: type) -> Any:
    """The fields of ``options`` that the options class ``part`` declares, as a ``part``."""
    return part(**{f.name: getattr(options, f.name) for f in dataclasses.fields(part)})


def pair_options(feature: type[Feature], metric: type[CrossViewMetric]) -> type:
    """The options class of a pair: the feature's fields and the metric's, each part
    checked as its own class checks it. A field both declare is a ConfigError."""
    parts = [p for p in (feature.Options, metric.Options) if dataclasses.fields(p)]
    if len(parts) < 2:
        return parts[0] if parts else NoOptions
    shared = ({f.name for f in dataclasses.fields(parts[0])}
              & {f.name for f in dataclasses.fields(parts[1])})
    if shared:
        raise ConfigError(f"feature {feature.name!r} and metric {metric.name!r} both "
                          f"declare option(s) {sorted(shared)}")

    def check_parts(self: Any) -> None:
        for part in parts:
            check = getattr(part, "__post_init__", None)
            if check is not None:
                check(self)

    combined = dataclasses.make_dataclass(
        f"{parts[0].__name__.removesuffix('Options')}"
        f"{parts[1].__name__.removesuffix('Options')}Options", [], bases=tuple(parts),
        frozen=True, namespace={"__post_init__": check_parts})
    combined.__module__ = __name__
    return combined


def handcrafted_method(feature: type[Feature], metric: type[CrossViewMetric]
                       ) -> type[HandcraftedMethod]:
    """The method class of a (feature, metric) pair, not yet registered."""

    class Pair(HandcraftedMethod):
        feature_class = feature
        metric_class = metric
        summary = f"{feature.summary}, {metric.summary}"
        settings = pair_settings(feature, metric)
        option_group = feature.option_group
        Options = pair_options(feature, metric)
        deterministic_fit = not metric.learns  # features draw nothing at random

    return Pair


@after_loading
def register_pairs() -> None:
    """Register every fitting (feature, metric) pair not registered yet; a pair that
    cannot be built (its two parts declare the same option) is skipped with a warning."""
    taken = set(available_methods())
    for feature in available_features().values():
        for metric in available_metrics().values():
            name = f"{feature.name}-{metric.name}"
            if name in taken or not pair_settings(feature, metric):
                continue
            try:
                register(name)(handcrafted_method(feature, metric))
            except (ConfigError, TypeError, ValueError) as error:
                log.warning("rgbd-bench: warning: no method %r: %s", name, error)

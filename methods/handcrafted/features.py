"""Handcrafted features by name: what a feature declares, and the registry of them.

A feature describes crops of one or both modalities (:class:`Feature`); a cross-view
metric (:mod:`methods.handcrafted.cross_view`) compares what it describes. A handcrafted method is a
(feature, metric) pair, built by :mod:`methods.handcrafted.pairs` for every pair whose views
fit, so a new feature meets every metric without a class of its own. Built-in features
register themselves with ``@register_feature("name")``; a plugin declares an entry point
in the group ``rgbd_bench.features`` (see :mod:`methods.core.registry`).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from methods.core.errors import ConfigError
from methods.core.frames import MODALITIES, PairedFrames
from methods.core.identity import identity_options
from methods.core.named_registry import Registry
from methods.core.options import NoOptions

MODALITY = "modality"


def modality_option(default: Any, modality: str) -> Any:
    """A feature option that changes the features of one modality only (e.g. how depth
    becomes an image): the other modality's cached features are kept when it changes."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return dataclasses.field(default=default, metadata={MODALITY: modality})


def check_positive_ints(options: Any, *names: str, optional: bool = False) -> None:
    """A ConfigError unless each named option is a positive integer (or ``None`` when
    ``optional``): the check most feature and metric options need."""
    for name in names:
        value = getattr(options, name)
        if optional and value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer{' or None' * optional}, "
                              f"got {value!r}")


class Feature(ABC):
    """A handcrafted descriptor of person crops.

    Class attributes a feature sets:
        name: filled in by :func:`register_feature`.
        summary: a few words, the start of its methods' one-line summaries.
        Options: a frozen dataclass of its options (every field with a default); a field
            made by :func:`modality_option` concerns one modality only.
        modalities: the modalities it describes.
        shared_space: both modalities are described by the same descriptor, so their
            features can be compared directly; ``False`` (e.g. HOG for RGB, a point-cloud
            descriptor for depth): only a metric that learns one map per view links them.
        alone: modalities whose features are compared among themselves (single-modal
            rows) by a metric that learns nothing, when the two spaces differ.
        frame_modalities: modalities described from whole frames (camera intrinsics,
            mask, skeleton), not from the image alone; :meth:`inputs` packs them.
        option_group: the profile section ``[options.<group>]`` its methods share.
        cached: its features are kept in the on-disk feature store (as float32);
            ``False`` for a descriptor cheaper than reading it back.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    Options: ClassVar[type] = NoOptions
    modalities: ClassVar[tuple[str, ...]] = MODALITIES
    shared_space: ClassVar[bool] = True
    alone: ClassVar[tuple[str, ...]] = ()
    frame_modalities: ClassVar[tuple[str, ...]] = ()
    option_group: ClassVar[str | None] = None
    cached: ClassVar[bool] = True

    def __init__(self, options: Any = None) -> None:
        self.options = self.Options() if options is None else options

    def inputs(self, frames: PairedFrames, modality: str) -> np.ndarray:
        """One row per frame: what :meth:`describe` receives and the cache is keyed by
        (the crops of ``modality``, unless the feature needs more of a frame)."""
        return frames.images(modality)

    @abstractmethod
    def describe(self, inputs: np.ndarray, modality: str) -> np.ndarray:
        """(n, d) float features of ``inputs`` (rows of :meth:`inputs`) of ``modality``."""

    def options_of(self, modality: str) -> dict[str, Any]:
        """The options that decide this modality's features (the feature store's key)."""
        kept = identity_options(self.options)
        for item in dataclasses.fields(self.options):
            if item.metadata.get(MODALITY, modality) != modality:
                kept.pop(item.name, None)
        return kept


def load_methods() -> None:
    """Load every method, and with them every built-in and plugin feature and metric."""
    from methods.core.registry import available_methods

    available_methods()


FEATURES: Registry[type[Feature]] = Registry("feature", None, base=Feature,
                                             before_lookup=load_methods, by_name=True)
register_feature = FEATURES.register
available_features = FEATURES.items
get_feature = FEATURES.get

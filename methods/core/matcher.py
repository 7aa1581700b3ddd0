"""The one matcher interface every method implements."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from methods.core.context import TaskContext, config_hash
from methods.core.distance import euclidean_distance
from methods.core.frames import PairedFrames, frames_fingerprint
from methods.core.options import NoOptions, build_options, merge_tables, take_declared

__all__ = ["CROSS_MODAL", "DEPTH_ONLY", "RGB_ONLY", "Matcher", "euclidean_distance"]

CROSS_MODAL: tuple[tuple[str, str], ...] = (("rgb", "depth"), ("depth", "rgb"))
RGB_ONLY: tuple[tuple[str, str], ...] = (("rgb", "rgb"),)
DEPTH_ONLY: tuple[tuple[str, str], ...] = (("depth", "depth"),)


class Matcher(ABC):
    """Embeds images of either modality and compares them.

    Life cycle, driven by the runner for every fold: ``fit(train, val)`` on the paired
    frames of the training and validation identities, then ``embed`` on the test
    images of each modality, then ``distance`` between query and gallery embeddings.

    Class attributes a method sets:
        name: filled in by :func:`methods.core.registry.register`.
        summary: one line for ``rgbd-bench methods``.
        settings: the (query modality, gallery modality) pairs the method is evaluated
            on; cross-modal methods use :data:`CROSS_MODAL`, single-modal step-I networks
            :data:`RGB_ONLY` or :data:`DEPTH_ONLY`.
        option_group: the profile section ``[options.<group>]`` (or a tuple of them,
            applied in order) whose keys the method shares with its kind (e.g.
            ``"deep"``); ``[options.<name>]`` overrides them.
        Options: a dataclass of the method's options; unknown keys are errors.
        requires: methods whose tasks the runner and executors finish first, because
            this method reuses their artifacts.
        pinned: options the method fixes over any profile section (an ablation's one
            varied option).
        seed_method: train with the seed of this method's task on the same fold (an
            ablation then differs from its base method in its pinned option only);
            ``None``: the method's own.
        ablation: an ablation variant: reported in the ablation tables, not Tables 1-4.
        deterministic_fit: ``fit`` draws nothing at random (its model is the same for
            every seed), so ``--seeds N`` runs it once and that record stands for every
            training seed; ``False`` (the default): it is trained once per seed.
        version: bump it for a change the code fingerprint cannot see (a data file the
            method reads, a third-party behaviour it relies on); part of its identity.

    The harness reads no other class attribute. A task's identity and the keys of what
    it trains come from :mod:`methods.core.identity`: the method's options, the code it runs
    (fingerprinted, nothing to list), the tasks it needs, its data, seed and evaluation.
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    settings: ClassVar[tuple[tuple[str, str], ...]] = CROSS_MODAL
    option_group: ClassVar[str | tuple[str, ...] | None] = None
    Options: ClassVar[type] = NoOptions
    requires: ClassVar[tuple[str, ...]] = ()
    pinned: ClassVar[dict[str, Any]] = {}
    seed_method: ClassVar[str | None] = None
    ablation: ClassVar[bool] = False
    deterministic_fit: ClassVar[bool] = False
    version: ClassVar[str] = ""

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        self.options = build_options(self.Options, self.resolve_options(options),
                                     f"method {self.name!r}")
        self.context = context or TaskContext(artifact_root=Path(".cache") / "artifacts")

    @classmethod
    def from_offered(cls, context: TaskContext | None = None, **offered: Any) -> Matcher:
        """The method built from options offered as a group section offers them (e.g.
        ``[options.deep]``, which holds every deep method's sections): it takes the fields
        its ``Options`` declare and leaves the rest."""
        return cls(context, **take_declared(cls.Options, offered))

    @classmethod
    def resolve_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        """``given`` with :attr:`pinned` merged over it (sections field by field): the one
        place pins apply, for the harness's plan and for a matcher built directly."""
        return merge_tables(given, cls.pinned)

    def fit(self, train: PairedFrames, val: PairedFrames) -> Matcher:
        """Learn from the training (and validation) identities; returns ``self``."""
        return self

    @abstractmethod
    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        """(n, d) float embeddings of ``rgb`` (n,h,w,3) uint8 or ``depth`` (n,h,w) uint16."""

    def embed_frames(self, frames: PairedFrames, modality: str) -> np.ndarray:
        """Embeddings of one modality of ``frames``: :meth:`embed` of its images.

        A method that needs more of a frame than its image (e.g. the person mask,
        skeleton and camera intrinsics of a depth crop) overrides this.
        """
        return self.embed(frames.images(modality), modality)

    def distance(self, query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
        """(n_query, n_gallery) distances; Euclidean by default."""
        return euclidean_distance(query, gallery)

    def training_key(self, train: PairedFrames, val: PairedFrames) -> str:
        """The key of what this task trains: the run plan's (``context.task_key``); outside
        a run, the same provenance computed from this method's class, options and seed,
        the frames it is fitted on (which identities and time steps) and its inputs."""
        if self.context.task_key is not None:
            return self.context.task_key
        from methods.core.identity import task_provenance

        data = config_hash([frames_fingerprint(train), frames_fingerprint(val),
                            list(train.image_size)])
        needs = {m: i.static_key for m, i in self.context.inputs.items() if i.static_key}
        return task_provenance(type(self), self.options, self.context.seed, data,
                               needs).training_key

    def config(self) -> dict[str, Any]:
        """The method's resolved options, recorded with every result."""
        return dataclasses.asdict(self.options)


"""The deep rows: single-modal step-I networks and the zero-padding / one-stream baselines.

Every method here trains one :class:`~methods.deep.networks.ReidNetwork` with the shared
:class:`~methods.deep.engine.Engine`, selects the epoch with the best validation mAP and
stores the network as an artifact keyed by its full training configuration, the fold's
identities and the seed; a second ``fit`` with the same key loads it instead of
training. :func:`train_or_load_step1` gives later steps (distillation) the very same
step-I network of a fold.

Methods:
    resnet-{rgb,depth}-{softmax,triplet}: single-modal networks (paper Tables 1-2).
    zero-padding: Wu et al.'s zero-padding network, softmax over both modalities.
    one-stream: one network shared by both modalities (3-channel inputs), softmax.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from methods.core.context import TaskContext
from methods.core.errors import ConfigError
from methods.core.feature_store import FeatureStore
from methods.core.fingerprint import code_digest
from methods.core.frames import PairedFrames
from methods.core.matcher import CROSS_MODAL, DEPTH_ONLY, RGB_ONLY, Matcher
from methods.core.options import build_options, take_declared
from methods.core.registry import register
from methods.core.stored_crops import StoredCrops
from methods.deep.engine import Engine, SoftmaxEngine, TrainConfig, TripletEngine
from methods.deep.fixed_outputs import FixedStagePipeline, shared_store, weights_key
from methods.deep.host_crops import HostCropPipeline
from methods.deep.inputs import InputEncoder, Pipeline, SampleSet, embed_images
from methods.deep.model_selection import Validation
from methods.deep.networks import ReidNetwork, build_network
from methods.deep.option_sections import (
    DeepOptions,
    SoftmaxOptions,
    TripletOptions,
    ZeroPaddingOptions,
)
from methods.deep.trained import load_or_train

ARTIFACT_KIND = "deep-network"
FIXED_OUTPUTS_KIND = "fixed-stage-outputs"
CHECKPOINT_NAME = "network.pt"


@dataclass(frozen=True)
class NetworkSpec:
    """What a network learns from: input modalities, input layout and loss.

    Attributes:
        modalities: training images of these modalities, all labelled by identity.
        loss: ``"softmax"`` or ``"triplet"``.
        layout: ``"image"`` (3-channel input per modality) or ``"zero-padding"``.
    """

    modalities: tuple[str, ...]
    loss: str
    layout: str = "image"

    @property
    def settings(self) -> tuple[tuple[str, str], ...]:
        """The (query, gallery) modality pairs it is validated on."""
        if self.modalities == ("rgb",):
            return RGB_ONLY
        if self.modalities == ("depth",):
            return DEPTH_ONLY
        return CROSS_MODAL


def fixed_stage_store(network: ReidNetwork, options: DeepOptions, context: TaskContext
                      ) -> FeatureStore | None:
    """With ``cache_fixed_stages``, the data set's store of ``network``'s fixed stages'
    outputs, keyed by their weights and the code that computes them (shared by every fold
    and method; each output by its input's bytes); ``None`` without."""
    if not options.compute.cache_fixed_stages:
        return None
    key = {"arch": options.network.arch, "entry": network.fixed_before,
           "weights": weights_key(network.fixed_modules()),
           "code": code_digest(FixedStagePipeline, type(network.backbone))}
    return shared_store(context.artifact_dir(FIXED_OUTPUTS_KIND, key, per_fold=False))


def encoder_for(spec: NetworkSpec, options: DeepOptions, evaluation: bool = False
                ) -> InputEncoder:
    """How ``spec``'s network sees its inputs, in training or at validation/test."""
    encoding = options.network.depth_encoding
    if spec.layout != "zero-padding":
        return InputEncoder(spec.layout, encoding, 3)
    channels = options.network.zero_padding_channels
    authors = evaluation and options.reproduction.zero_padding_eval == "authors"
    return InputEncoder(spec.layout, encoding, channels, 0 if authors else channels - 1)


def pipeline_for(spec: NetworkSpec, options: DeepOptions, device: str,
                 evaluation: bool = False, stored: StoredCrops | None = None) -> Pipeline:
    """The input pipeline of a network on ``device``, for training or for evaluation;
    ``stored``: the crops training cuts from with ``crop_from = "stored"``."""
    size = (options.network.height, options.network.width)
    encoder = encoder_for(spec, options, evaluation)
    if options.network.resize == "pil-bilinear":
        return HostCropPipeline(encoder, size, device, stored)
    return Pipeline(encoder, size, device)


def stored_crops_for(options: DeepOptions, context: TaskContext) -> StoredCrops | None:
    """The data set's stored crops when training cuts from them (``crop_from``)."""
    if options.network.crop_from != "stored":
        return None
    if context.stored_crops is None:
        raise ConfigError("crop_from = \"stored\" needs the data set's stored crops, which "
                          "a run provides (TaskContext.stored_crops)")
    return context.stored_crops()


def network_pipeline(spec: NetworkSpec, options: DeepOptions, network: ReidNetwork,
                     device: str, evaluation: bool = False,
                     stored: StoredCrops | None = None, context: TaskContext | None = None
                     ) -> Pipeline:
    """The pipeline that feeds ``network``: images, or (``cache_fixed_stages``, with the
    task's ``context``) its fixed stages' outputs through the data set's store of them
    (:func:`fixed_stage_store`), which the pipeline owns."""
    pipeline = pipeline_for(spec, options, device, evaluation, stored)
    if context is None or network.fixed_before == "stem":
        return pipeline
    store = fixed_stage_store(network, options, context)
    if store is None:
        return pipeline
    return FixedStagePipeline(pipeline, network.backbone, network.fixed_before, store)


def softmax_recipe(options: DeepOptions) -> TrainConfig:
    """Identity classification by ``[options.deep.softmax]``; a random trunk trains at
    full rate whatever ``backbone_lr_mult`` says."""
    if options.network.pretrained == "none":
        return options.engine_config(options.softmax, backbone_lr_mult=1.0)
    return options.engine_config(options.softmax)


def triplet_recipe(options: DeepOptions) -> TrainConfig:
    """Batch-hard triplet training by ``[options.deep.triplet]``."""
    return options.engine_config(options.triplet)


def train_config(spec: NetworkSpec, options: DeepOptions) -> TrainConfig:
    """The engine settings of the built-in network of ``spec`` under ``options``."""
    return method_of(spec)(**dataclasses.asdict(options)).train_config()


def validation_map(network: nn.Module, pipeline: Pipeline, validation: Validation,
                   settings: tuple[tuple[str, str], ...], batch_size: int = 256,
                   amp: bool = False, forward: Callable[..., torch.Tensor] | None = None
                   ) -> float:
    """Mean validation mAP of ``network`` over ``settings``
    (see :mod:`methods.deep.model_selection`);
    ``forward(network, inputs, modality)`` embeds a batch (default: the first output)."""
    images = validation.val

    def embedded(m: str) -> np.ndarray:
        of = None if forward is None else functools.partial(_forward_modality, forward,
                                                            modality=m)
        return embed_images(network, pipeline, images.images(m), m, batch_size, amp, of)

    embeddings = {m: embedded(m)
                  for m in dict.fromkeys(mod for setting in settings for mod in setting)}
    return float(np.mean(validation.scores(embeddings, settings)))


def train_or_load(spec: NetworkSpec, options: DeepOptions, train: PairedFrames,
                  val: PairedFrames, context: TaskContext, seed: int | None = None
                  ) -> tuple[ReidNetwork, Path]:
    """The network of the built-in method of ``spec`` trained on ``train`` (selected on
    ``val``) with ``seed`` (default: the context's), and its file; see
    :meth:`DeepMethod.train_or_load`."""
    if seed is not None:
        context = dataclasses.replace(context, seed=seed)
    method = method_of(spec)(context, **dataclasses.asdict(options))
    return method.train_or_load(train, val)


def train_or_load_step1(modality: str, loss: str, options: DeepOptions | dict[str, Any],
                        train: PairedFrames, val: PairedFrames, context: TaskContext
                        ) -> tuple[ReidNetwork, Path]:
    """The single-modal step-I network of one fold, as ``resnet-<modality>-<loss>`` trains it.

    Args:
        modality: ``"rgb"`` or ``"depth"``.
        loss: ``"softmax"`` or ``"triplet"``.
        options: :class:`DeepOptions` or a dict of section tables offered as
            ``[options.deep.*]`` (the method takes the fields it declares); must equal the
            step-I task's to reuse its network.
        train, val: the fold's training and validation frames.
        context: the calling task's context (artifact store, fold, device); the seed
            is the one the step-I method's own task gets, ``context.seed_of(name)``.

    Returns:
        The network (eval mode, on ``context.device``) and its checkpoint file.
    """
    if modality not in ("rgb", "depth"):
        raise ConfigError(f"step-I modality must be 'rgb' or 'depth', got {modality!r}")
    if not isinstance(options, DeepOptions):
        cls = method_of(NetworkSpec((modality,), loss))
        options = build_options(cls.Options, take_declared(cls.Options, options),
                                "step-I options")
    return train_or_load(NetworkSpec((modality,), loss), options, train, val, context,
                         seed=context.seed_of(f"resnet-{modality}-{loss}"))


class DeepMethod(Matcher):
    """A matcher around one trained network; Euclidean distance of its embeddings.

    A deep method says what is particular to it in a few hooks; training-or-loading
    (:func:`methods.deep.trained.load_or_train`: artifact key, lock, seeds, checkpoint),
    epochs, model selection on the validation identities and the fixed-stage store
    live beneath it, once.

    Hooks a method sets or overrides:
        spec: training modalities and input layout (its ``loss`` names the recipe in
            the artifact key).
        engine: the :class:`~methods.deep.engine.Engine` subclass whose ``compute_loss`` is
            one training step's loss.
        build_network: the network, given the class count and the trunk's weights.
        train_config: optimiser, schedule and sampler (:class:`TrainConfig`; the
            built-in recipes: :func:`softmax_recipe`, :func:`triplet_recipe`).
        engine_options: extra keyword arguments of ``engine`` (e.g. a margin).
        forward: the embedding of a batch of one modality (default: the network's
            first output).
        Options: the option sections it reads (:class:`DeepOptions` plus its recipe's);
            they, its code and its data make its network's key
            (:meth:`~methods.core.matcher.Matcher.training_key`), so changing another recipe
            retrains nothing.
    """

    option_group = "deep"
    Options = DeepOptions
    spec: ClassVar[NetworkSpec]
    engine: ClassVar[type[Engine]] = Engine
    artifact_kind: ClassVar[str] = ARTIFACT_KIND

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        super().__init__(context, **options)
        self.network: ReidNetwork | None = None
        self.checkpoint: Path | None = None

    def build_network(self, num_classes: int, pretrained: str) -> ReidNetwork:
        """A new network with ``num_classes`` identities and trunk weights ``pretrained``."""
        raise NotImplementedError

    def train_config(self) -> TrainConfig:
        """The engine settings of this method's training (optimiser, schedule, batches)."""
        raise NotImplementedError

    def engine_options(self) -> dict[str, Any]:
        """Extra keyword arguments of :attr:`engine`."""
        return {}

    def forward(self, network: nn.Module, inputs: torch.Tensor, modality: str
                ) -> torch.Tensor:
        """The (b, d) embeddings of a batch of ``modality`` inputs."""
        return network(inputs)[0]

    def pipeline(self, network: ReidNetwork, evaluation: bool = False) -> Pipeline:
        """The input pipeline feeding ``network`` (evaluation: validation and test)."""
        stored = None if evaluation else stored_crops_for(self.options, self.context)
        return network_pipeline(self.spec, self.options, network, self.context.device,
                                evaluation, stored, self.context)

    def _network(self, num_classes: int, pretrained: str) -> ReidNetwork:
        network = self.build_network(num_classes, pretrained)
        network.fix_stages_before(self.options.network.train_from)
        return network

    def train_or_load(self, train: PairedFrames, val: PairedFrames
                      ) -> tuple[ReidNetwork, Path]:
        """The network trained on ``train`` (selected on ``val``) with the task's seed,
        and its file, loaded from the artifact store when one with the same key
        (:meth:`~methods.core.matcher.Matcher.training_key`) exists, unless the task is forced.
        The network is returned in eval mode on the task's device."""
        options, context = self.options, self.context
        seed = context.seed
        key = self.training_key(train, val)
        samples = SampleSet.of(train, self.spec.modalities)

        def build(meta: dict[str, Any] | None) -> ReidNetwork:
            if meta is not None:
                return self._network(int(meta["num_classes"]), "none")
            return self._network(samples.num_classes, options.network.pretrained)

        def fit(network: ReidNetwork) -> tuple[nn.Module, dict[str, Any]]:
            amp = options.autocast(context.device)
            validation = Validation(val, options.reproduction.validation, seed)
            eval_pipeline = self.pipeline(network, evaluation=True)

            def validate(model: nn.Module) -> float:
                return validation_map(model, eval_pipeline, validation, self.spec.settings,
                                      options.compute.eval_batch_size, amp, self.forward)

            engine = self.engine(network, samples, self.pipeline(network),
                                 self.train_config(), seed=seed, validate=validate,
                                 quiet=context.quiet, **self.engine_options())
            result = engine.fit()
            return engine.network, {"key": key, "num_classes": samples.num_classes,
                                    "result": result.to_dict()}

        folder = context.artifact_dir(self.artifact_kind, {"task": key})
        network, path = load_or_train(folder, CHECKPOINT_NAME, build, fit, seed,
                                      context.device, options.compute.num_threads,
                                      force=context.forced_once(folder))
        return network.to(context.device).eval(), path

    def fit(self, train: PairedFrames, val: PairedFrames) -> DeepMethod:
        with self.options.precision():
            self.network, self.checkpoint = self.train_or_load(train, val)
        return self

    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        if self.network is None:
            raise RuntimeError(f"{self.name}: call fit() before embed()")
        if modality not in self.spec.modalities:
            raise ValueError(f"{self.name} embeds {self.spec.modalities} images, "
                             f"not {modality!r}")
        device = self.context.device
        with self.options.precision():
            embeddings = embed_images(self.network, self.pipeline(self.network, True),
                                      images, modality, self.options.compute.eval_batch_size,
                                      amp=self.options.autocast(device),
                                      forward=self._forward_of(modality))
        return embeddings

    def _forward_of(self, modality: str) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
        return functools.partial(_forward_modality, self.forward, modality=modality)


def _forward_modality(forward: Callable[..., torch.Tensor], network: nn.Module,
                      inputs: torch.Tensor, modality: str) -> torch.Tensor:
    return forward(network, inputs, modality)


class OpenReidNetwork(DeepMethod):
    """A :class:`ReidNetwork` with one of open-reid's heads (:data:`methods.deep.networks.HEADS`),
    trained by the recipe of that loss."""

    head: ClassVar[str]
    recipe: ClassVar[Callable[[DeepOptions], TrainConfig]]

    def build_network(self, num_classes: int, pretrained: str) -> ReidNetwork:
        return new_network(self.spec, self.options, self.head, num_classes, pretrained,
                           self.head_dropout())

    def head_dropout(self) -> float:
        """Dropout of the head (only the softmax head has one)."""
        return 0.0

    def train_config(self) -> TrainConfig:
        return type(self).recipe(self.options)


class SoftmaxNetwork(OpenReidNetwork):
    """Softmax head, trained by identity classification."""

    head, recipe, engine = "softmax", softmax_recipe, SoftmaxEngine
    Options = SoftmaxOptions

    def head_dropout(self) -> float:
        return self.options.softmax.dropout


class TripletNetwork(OpenReidNetwork):
    """Triplet head, trained with the batch-hard triplet loss."""

    head, recipe, engine = "triplet", triplet_recipe, TripletEngine
    Options = TripletOptions

    def engine_options(self) -> dict[str, Any]:
        return {"margin": self.options.triplet.margin}


def new_network(spec: NetworkSpec, options: DeepOptions, head: str, num_classes: int,
                pretrained: str, dropout: float = 0.0) -> ReidNetwork:
    """The open-reid network of ``head`` for ``spec``'s input layout and ``options``;
    ``dropout``: the softmax head's."""
    network = options.network
    channels = network.zero_padding_channels if spec.layout == "zero-padding" else 3
    return build_network(network.arch, head, num_classes=num_classes,
                         embedding_dim=network.embedding_dim, dropout=dropout,
                         in_channels=channels, pretrained=pretrained)


def method_of(spec: NetworkSpec) -> type[DeepMethod]:
    """The built-in method class training ``spec``'s network."""
    for cls in (*SINGLE_MODAL.values(), ZeroPadding, OneStream):
        if cls.spec == spec:
            return cls
    raise ConfigError(f"no built-in deep method trains {spec}")


def _single_modal(modality: str, loss: str) -> type[DeepMethod]:
    settings = RGB_ONLY if modality == "rgb" else DEPTH_ONLY
    base = SoftmaxNetwork if loss == "softmax" else TripletNetwork

    class SingleModal(base):  # type: ignore[valid-type,misc]
        summary = f"ResNet on {modality} images, {loss} loss, 128-d embedding (step I)"
        spec = NetworkSpec((modality,), loss)

    SingleModal.settings = settings
    SingleModal.__name__ = SingleModal.__qualname__ = \
        f"Resnet{modality.capitalize()}{loss.capitalize()}"
    return register(f"resnet-{modality}-{loss}")(SingleModal)


ResnetRgbSoftmax = _single_modal("rgb", "softmax")
ResnetRgbTriplet = _single_modal("rgb", "triplet")
ResnetDepthSoftmax = _single_modal("depth", "softmax")
ResnetDepthTriplet = _single_modal("depth", "triplet")
SINGLE_MODAL = {cls.name: cls for cls in (ResnetRgbSoftmax, ResnetRgbTriplet,
                                          ResnetDepthSoftmax, ResnetDepthTriplet)}


@register("zero-padding")
class ZeroPadding(SoftmaxNetwork):
    """Wu et al.'s zero-padding network: grey RGB and grey depth in separate input channels."""

    summary = "zero-padding network (Wu et al. 2017): one ResNet, softmax over both modalities"
    settings = CROSS_MODAL
    spec = NetworkSpec(("rgb", "depth"), "softmax", layout="zero-padding")
    Options = ZeroPaddingOptions


@register("one-stream")
class OneStream(SoftmaxNetwork):
    """One network shared by both modalities, 3-channel inputs, identity softmax."""

    summary = "one-stream network (Wu et al. 2017): one shared ResNet, softmax, both modalities"
    settings = CROSS_MODAL
    spec = NetworkSpec(("rgb", "depth"), "softmax")

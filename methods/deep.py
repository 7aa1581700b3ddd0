"""The deep rows: single-modal step-I networks and the zero-padding / one-stream baselines.

Every method here trains one :class:`~methods.networks.ReidNetwork` with the shared
:class:`~methods.engine.Engine`, selects the epoch with the best validation mAP and
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

import contextlib
import dataclasses
import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from benchmark.datasets.frames import PairedFrames
from benchmark.datasets.stored import StoredCrops
from benchmark.errors import ConfigError
from methods.augment import CROP_SOURCES, CROPS, RESIZE_KERNELS, Augmentation
from methods.backbone import ENTRY_POINTS
from methods.backbones import ARCHS
from methods.base import CROSS_MODAL, DEPTH_ONLY, RGB_ONLY, Matcher
from methods.context import TaskContext
from methods.deep_data import DEPTH_ENCODINGS, InputEncoder, Pipeline, SampleSet, embed_images
from methods.engine import (
    EVAL_SCHEDULES,
    Engine,
    SoftmaxEngine,
    TrainConfig,
    TripletEngine,
    autocast_enabled,
    float32_precision,
)
from methods.feature_store import FeatureStore
from methods.fixed_outputs import FixedStagePipeline, shared_store, weights_key
from methods.host_crops import HostCropPipeline
from methods.networks import ReidNetwork, build_network
from methods.registry import register
from methods.trained import load_or_train
from methods.validation import VALIDATIONS, Validation

ARTIFACT_KIND = "deep-network"
FIXED_OUTPUTS_KIND = "fixed-stage-outputs"
ZERO_PADDING_EVAL = ("as-trained", "authors")
TRIPLET_EPOCHS = ("identities", "images")
CHECKPOINT_NAME = "network.pt"
# The options only one recipe or input layout reads (DeepOptions' docstring).
SOFTMAX_OPTIONS = ("softmax_lr", "softmax_batch_size", "lr_step_epochs", "dropout",
                   "backbone_lr_mult")
TRIPLET_OPTIONS = ("triplet_epoch", "triplet_lr", "triplet_p", "triplet_k", "triplet_margin")
ZERO_PADDING_OPTIONS = ("zero_padding_channels", "zero_padding_eval")


@dataclass(frozen=True)
class DeepOptions:
    """Options of every deep method (profile section ``[options.deep]``).

    Defaults are the paper's / the authors' settings, without ImageNet weights, except
    ``crop_from`` and ``resize``, which default to the crop cache and torch's kernel (the
    ``paper`` profiles set the authors' ``"stored"`` and ``"pil-bilinear"``).

    Attributes:
        arch: a backbone of :data:`methods.backbones.ARCHS` (``resnet10`` ... ``resnet101``,
            ``efficientnet-lite0``).
        height, width: network input size; crops are resized to it.
        pretrained: ``"none"``, ``"imagenet"`` (torchvision ``IMAGENET1K_V1``; Lite0: the
            installed weights package) or the path of a state-dict file.
        embedding_dim: size of the embedding layer.
        train_from: the first trunk stage that learns (``"stem"``, ``"layer1"`` ...
            ``"layer4"``, or ``"head"``: the whole trunk is fixed and only the head
            learns); earlier stages keep their (pretrained) weights and BatchNorm
            statistics. ``"stem"`` (default) trains everything, as the authors.
        cache_fixed_stages: compute the fixed stages' output once per distinct input
            and keep it in the artifact store, shared by every epoch, fold and method
            starting from the same weights (:mod:`methods.fixed_outputs`). Needs
            ``train_from`` after the stem, ``augment = "none"`` and no random erasing
            (a random crop is a new input every time); flips are two inputs per image.
        depth_encoding: depth as network input, ``"normalised"`` (per-crop stretched
            8-bit depth replicated to 3 channels), ``"colormap"`` (JET) or ``"stored"``
            (depth that is already 8-bit, as the prepared layout's JPEGs, replicated to 3
            channels unchanged: the authors' ``.convert('RGB')``,
            ``open-reid/reid/utils/data/preprocessor.py:40``) or ``"relative"`` (depth
            around the person's, ±1 m; :func:`methods.deep_data.relative_grey`).
        zero_padding_channels: 3 (the authors' code: RGB grey, 0, depth grey) or 2.
        zero_padding_eval: where zero-padding puts depth at validation and test:
            ``"as-trained"`` (the last channel) or ``"authors"`` (channel 0: their
            single-root loaders send every image down the RGB branch,
            ``open-reid/examples/softmax_loss_zp.py:68-90``, ``preprocessor.py:76-84,100-105``).
        epochs: training epochs.
        triplet_epoch: what an epoch of triplet training is: ``"identities"`` (each
            training identity once, ``triplet_k`` images each, as open-reid's
            ``RandomIdentitySampler``, ``open-reid/reid/utils/data/sampler.py:11-33``:
            32 identities x 4 / 64 = 2 iterations on BIWI) or ``"images"`` (one pass
            over the training images).
        eval_every: validation every this many epochs.
        eval_schedule: ``"authors"`` (after epochs 1, 1 + eval_every, ...: their
            ``epoch % 10 == 0`` with 0-based epochs, ``open-reid/examples/softmax_loss.py:173``)
            or ``"end-of-period"`` (after epochs eval_every, 2 * eval_every, ... and the
            last).
        validation: model-selection protocol, ``"temporal"`` or ``"authors"``
            (:mod:`methods.validation`).
        patience: early stopping after this many validations without improvement
            (0 = train all epochs; the best validated epoch is restored either way).
        softmax_lr, softmax_batch_size, lr_step_epochs, dropout: softmax training
            (SGD with Nesterov momentum 0.9; rate x0.1 every ``lr_step_epochs``).
        backbone_lr_mult: learning-rate factor of a *pretrained* trunk in softmax
            training; a random trunk trains at full rate. 1.0 is the authors' (one
            parameter group, ``open-reid/examples/softmax_loss.py:143``).
        weight_decay: of both optimisers.
        triplet_lr, triplet_p, triplet_k, triplet_margin: triplet training (Adam,
            P x K batches, batch-hard mining, no schedule).
        augment: ``"rect-crop"`` (the authors'), ``"pad-crop"`` or ``"none"``.
        flip: random horizontal flips.
        random_erasing: probability of random erasing (0 = off).
        amp: bfloat16 autocast on a GPU (the authors trained in fp32, PyTorch 0.4).
        tf32: with ``amp`` off, let CUDA convolutions and matmuls use TF32 on Ampere and
            newer GPUs (torch's default for cuDNN). ``False`` (default) switches TF32 off
            for the task and restores the previous setting after: true fp32, as the
            authors' CUDA 9 GPUs computed (:func:`methods.engine.float32_precision`).
        crop_from: where training crops are cut: ``"resized"`` (the crop cache's images at
            the run's ``image_size``, one batched ``grid_sample``) or ``"stored"`` (the
            data set's stored image in its own pixels, resized to ``height`` x ``width``
            afterwards, as the authors' ``RandomSizedRectCrop``,
            ``open-reid/reid/utils/data/transforms.py:28-44``; the two draw the same crops
            only when the stored crops are exactly ``height`` x ``width``-shaped).
        resize: the kernel that resizes images to the network input in the deep pipeline:
            ``"torch"`` (antialiased bilinear on the device; a crop of the resized cache
            is resampled by the same ``grid_sample`` that cuts it) or ``"pil-bilinear"``
            (PIL's ``Image.BILINEAR`` per image on the host, the authors' ``RectScale`` and
            crop resize, ``transforms.py:9-19,44``).
        eval_batch_size: batch size of embedding extraction.
        num_threads: torch CPU threads while training (0 = torch's default).
    """

    arch: str = "resnet50"
    height: int = 256
    width: int = 128
    pretrained: str = "none"
    embedding_dim: int = 128
    train_from: str = "stem"
    cache_fixed_stages: bool = False
    depth_encoding: str = "normalised"
    zero_padding_channels: int = 3
    zero_padding_eval: str = "as-trained"
    epochs: int = 100
    triplet_epoch: str = "identities"
    eval_every: int = 10
    eval_schedule: str = "authors"
    validation: str = "temporal"
    patience: int = 0
    softmax_lr: float = 0.1
    softmax_batch_size: int = 64
    lr_step_epochs: int = 40
    dropout: float = 0.5
    backbone_lr_mult: float = 1.0
    weight_decay: float = 5e-4
    triplet_lr: float = 2e-4
    triplet_p: int = 16
    triplet_k: int = 4
    triplet_margin: float = 0.5
    augment: str = "rect-crop"
    flip: bool = True
    random_erasing: float = 0.0
    amp: bool = False
    tf32: bool = False
    crop_from: str = "resized"
    resize: str = "torch"
    eval_batch_size: int = 256
    num_threads: int = 0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"deep option arch: expected one of {ARCHS}, got {self.arch!r}")
        choices = {"depth_encoding": DEPTH_ENCODINGS, "zero_padding_eval": ZERO_PADDING_EVAL,
                   "triplet_epoch": TRIPLET_EPOCHS, "eval_schedule": EVAL_SCHEDULES,
                   "validation": VALIDATIONS, "crop_from": CROP_SOURCES,
                   "resize": RESIZE_KERNELS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"deep option {name}: expected one of {allowed}, "
                                  f"got {getattr(self, name)!r}")
        if self.train_from not in ENTRY_POINTS:
            raise ConfigError(f"deep option train_from: expected one of {ENTRY_POINTS}, "
                              f"got {self.train_from!r}")
        if self.cache_fixed_stages:
            check_cacheable(self.train_from, self.augment, self.random_erasing, "deep option")
        if self.zero_padding_channels not in (2, 3):
            raise ConfigError("deep option zero_padding_channels: expected 3 or 2")
        if self.augment not in CROPS:
            raise ConfigError(f"deep option augment: expected one of {CROPS}")
        if min(self.height, self.width, self.epochs, self.eval_every, self.embedding_dim,
               self.softmax_batch_size, self.eval_batch_size) < 1:
            raise ConfigError("deep options: sizes, epochs and batch sizes must be >= 1")
        if self.triplet_p < 2 or self.triplet_k < 2:
            raise ConfigError("deep options triplet_p and triplet_k must be >= 2")
        if not 0.0 <= self.random_erasing <= 1.0:
            raise ConfigError("deep option random_erasing must be in [0, 1]")
        check_crop_source(self.crop_from, self.resize, self.augment,
                          self.cache_fixed_stages, "deep option")

    def autocast(self, device: str) -> bool:
        """Whether to run in bfloat16 autocast on ``device`` (``amp`` on a GPU only)."""
        return autocast_enabled(self.amp, device)

    def precision(self) -> contextlib.AbstractContextManager:
        """The TF32 switches of a task with these options (see ``tf32``)."""
        return float32_precision(self.amp, self.tf32)

    def training_key(self, unread: tuple[str, ...] = ()) -> dict[str, Any]:
        """The options that change the trained weights (the artifact key's part), less
        ``unread``: those the network's training never reads (another loss's recipe)."""
        skip = {"eval_batch_size", "num_threads", *unread}
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in skip}


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


def check_crop_source(crop_from: str, resize: str, augment: str, cache_fixed_stages: bool,
                      where: str) -> None:
    """Raise :class:`ConfigError` unless training crops can come from ``crop_from`` and
    be resized with ``resize``."""
    if resize == "pil-bilinear" and cache_fixed_stages:
        raise ConfigError(f"{where} resize = \"pil-bilinear\" resizes on the host, image by "
                          f"image; cache_fixed_stages needs resize = \"torch\"")
    if crop_from != "stored":
        return
    if resize != "pil-bilinear":
        raise ConfigError(f"{where} crop_from = \"stored\" cuts crops of many sizes, which "
                          f"are resized one by one with PIL: set resize = \"pil-bilinear\"")
    if augment == "pad-crop":
        raise ConfigError(f"{where} crop_from = \"stored\" takes augment \"rect-crop\" or "
                          f"\"none\", not \"pad-crop\"")
    if cache_fixed_stages:
        raise ConfigError(f"{where} crop_from = \"stored\" reads images of many sizes; "
                          f"cache_fixed_stages needs the crop cache's: set crop_from = "
                          f"\"resized\"")


def check_cacheable(train_from: str, augment: str, random_erasing: float, where: str) -> None:
    """Raise :class:`ConfigError` unless fixed-stage outputs can be reused with these
    settings (see ``DeepOptions.cache_fixed_stages``)."""
    if train_from == "stem":
        raise ConfigError(f"{where} cache_fixed_stages needs fixed stages: set train_from "
                          f"to a later stage ('layer1' ... 'layer4' or 'head')")
    if augment != "none" or random_erasing > 0:
        raise ConfigError(f"{where} cache_fixed_stages needs augment = \"none\" and "
                          f"random_erasing = 0 (got {augment!r}, {random_erasing}): a random "
                          f"crop or erasure is a new input every time, so nothing is reused")


def fixed_stage_store(network: ReidNetwork, options: DeepOptions, context: TaskContext
                      ) -> FeatureStore | None:
    """With ``cache_fixed_stages``, the data set's store of ``network``'s fixed stages'
    outputs, keyed by their weights (shared by every fold and method); ``None`` without."""
    if not options.cache_fixed_stages:
        return None
    key = {"arch": options.arch, "entry": network.fixed_before,
           "weights": weights_key(network.fixed_modules())}
    return shared_store(context.artifact_dir(FIXED_OUTPUTS_KIND, key, per_fold=False))


def encoder_for(spec: NetworkSpec, options: DeepOptions, evaluation: bool = False
                ) -> InputEncoder:
    """How ``spec``'s network sees its inputs, in training or at validation/test."""
    if spec.layout != "zero-padding":
        return InputEncoder(spec.layout, options.depth_encoding, 3)
    channels = options.zero_padding_channels
    depth_slot = 0 if evaluation and options.zero_padding_eval == "authors" else channels - 1
    return InputEncoder(spec.layout, options.depth_encoding, channels, depth_slot)


def pipeline_for(spec: NetworkSpec, options: DeepOptions, device: str,
                 evaluation: bool = False, stored: StoredCrops | None = None) -> Pipeline:
    """The input pipeline of a network on ``device``, for training or for evaluation;
    ``stored``: the crops training cuts from with ``crop_from = "stored"``."""
    encoder, size = encoder_for(spec, options, evaluation), (options.height, options.width)
    if options.resize == "pil-bilinear":
        return HostCropPipeline(encoder, size, device, stored)
    return Pipeline(encoder, size, device)


def stored_crops_for(options: DeepOptions, context: TaskContext) -> StoredCrops | None:
    """The data set's stored crops when training cuts from them (``crop_from``)."""
    if options.crop_from != "stored":
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


def engine_config(options: DeepOptions, **recipe: Any) -> TrainConfig:
    """The one place a :class:`TrainConfig` is built from options: ``recipe`` (a loss's
    optimiser, schedule, sampler, augmentation) plus the numerics every recipe takes from
    ``[options.deep]`` (``amp``, ``tf32``), so no recipe can lose them."""
    return TrainConfig(amp=options.amp, tf32=options.tf32, **recipe)


def schedule_and_selection(options: DeepOptions) -> dict[str, Any]:
    """The engine settings every ``[options.deep]`` recipe shares: epochs, weight decay,
    validation schedule, patience and augmentation."""
    return {"epochs": options.epochs, "weight_decay": options.weight_decay,
            "eval_every": options.eval_every, "eval_schedule": options.eval_schedule,
            "patience": options.patience,
            "augmentation": Augmentation(options.augment, options.flip,
                                         options.random_erasing)}


def softmax_recipe(options: DeepOptions) -> TrainConfig:
    """Identity classification: SGD with Nesterov momentum, rate x0.1 every
    ``lr_step_epochs``, shuffled batches."""
    mult = options.backbone_lr_mult if options.pretrained != "none" else 1.0
    return engine_config(options, optimizer="sgd", lr=options.softmax_lr, momentum=0.9,
                         backbone_lr_mult=mult, lr_step=options.lr_step_epochs,
                         sampler="random", batch_size=options.softmax_batch_size,
                         **schedule_and_selection(options))


def triplet_recipe(options: DeepOptions) -> TrainConfig:
    """Batch-hard triplet: Adam at a constant rate, P x K batches."""
    return engine_config(options, optimizer="adam", lr=options.triplet_lr, lr_step=0,
                         sampler="identity", p=options.triplet_p, k=options.triplet_k,
                         identity_epochs=options.triplet_epoch == "identities",
                         **schedule_and_selection(options))


def train_config(spec: NetworkSpec, options: DeepOptions) -> TrainConfig:
    """The engine settings of the built-in network of ``spec`` under ``options``."""
    return method_of(spec)(**dataclasses.asdict(options)).train_config()


def validation_map(network: nn.Module, pipeline: Pipeline, validation: Validation,
                   settings: tuple[tuple[str, str], ...], batch_size: int = 256,
                   amp: bool = False, forward: Callable[..., torch.Tensor] | None = None
                   ) -> float:
    """Mean validation mAP of ``network`` over ``settings`` (see :mod:`methods.validation`);
    ``forward(network, inputs, modality)`` embeds a batch (default: the first output)."""
    images = validation.val

    def embedded(m: str) -> np.ndarray:
        of = None if forward is None else functools.partial(_forward_modality, forward,
                                                            modality=m)
        return embed_images(network, pipeline, images.images(m), m, batch_size, amp, of)

    embeddings = {m: embedded(m)
                  for m in dict.fromkeys(mod for setting in settings for mod in setting)}
    return float(np.mean(validation.scores(embeddings, settings)))


def frames_fingerprint(frames: PairedFrames) -> str:
    """A short hash of which frames (identity, sequence, time step) a set holds."""
    digest = hashlib.sha256()
    for array in (frames.pids, frames.sequences, frames.frames):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.hexdigest()[:16]


def artifact_key(spec: NetworkSpec, options: DeepOptions, train: PairedFrames,
                 val: PairedFrames, seed: int, unread: tuple[str, ...] = ()) -> dict[str, Any]:
    """Everything that decides a trained network's weights (``unread``: options its
    training never reads, left out)."""
    return {"spec": dataclasses.asdict(spec), "options": options.training_key(unread),
            "train": frames_fingerprint(train), "val": frames_fingerprint(val), "seed": seed,
            "crop_size": list(train.image_size)}


def train_or_load(spec: NetworkSpec, options: DeepOptions, train: PairedFrames,
                  val: PairedFrames, context: TaskContext, seed: int | None = None
                  ) -> tuple[ReidNetwork, Path]:
    """The network of the built-in method of ``spec`` trained on ``train`` (selected on
    ``val``), and its file; see :meth:`DeepMethod.train_or_load`."""
    method = method_of(spec)(context, **dataclasses.asdict(options))
    return method.train_or_load(train, val, seed)


def train_or_load_step1(modality: str, loss: str, options: DeepOptions | dict[str, Any],
                        train: PairedFrames, val: PairedFrames, context: TaskContext
                        ) -> tuple[ReidNetwork, Path]:
    """The single-modal step-I network of one fold, as ``resnet-<modality>-<loss>`` trains it.

    Args:
        modality: ``"rgb"`` or ``"depth"``.
        loss: ``"softmax"`` or ``"triplet"``.
        options: :class:`DeepOptions` or a dict of its fields (the ``[options.deep]``
            keys); must equal the step-I method's options to reuse its network.
        train, val: the fold's training and validation frames.
        context: the calling task's context (artifact store, fold, device); the seed
            is the one the step-I method's own task gets, ``context.seed_of(name)``.

    Returns:
        The network (eval mode, on ``context.device``) and its checkpoint file.
    """
    if modality not in ("rgb", "depth"):
        raise ConfigError(f"step-I modality must be 'rgb' or 'depth', got {modality!r}")
    if not isinstance(options, DeepOptions):
        options = DeepOptions(**options)
    return train_or_load(NetworkSpec((modality,), loss), options, train, val, context,
                         seed=context.seed_of(f"resnet-{modality}-{loss}"))


class DeepMethod(Matcher):
    """A matcher around one trained network; Euclidean distance of its embeddings.

    A deep method says what is particular to it in a few hooks; training-or-loading
    (:func:`methods.trained.load_or_train`: artifact key, lock, seeds, checkpoint),
    epochs, model selection on the validation identities and the fixed-stage store
    live beneath it, once.

    Hooks a method sets or overrides:
        spec: training modalities and input layout (its ``loss`` names the recipe in
            the artifact key).
        engine: the :class:`~methods.engine.Engine` subclass whose ``compute_loss`` is
            one training step's loss.
        build_network: the network, given the class count and the trunk's weights.
        train_config: optimiser, schedule and sampler (:class:`TrainConfig`; the
            built-in recipes: :func:`softmax_recipe`, :func:`triplet_recipe`).
        engine_options: extra keyword arguments of ``engine`` (e.g. a margin).
        forward: the embedding of a batch of one modality (default: the network's
            first output).
        unread_options: options its training never reads, kept out of the artifact
            key so that changing them retrains nothing.
    """

    option_group = "deep"
    Options = DeepOptions
    spec: ClassVar[NetworkSpec]
    engine: ClassVar[type[Engine]] = Engine
    artifact_kind: ClassVar[str] = ARTIFACT_KIND
    unread_options: ClassVar[tuple[str, ...]] = ()

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

    def artifact_key(self, train: PairedFrames, val: PairedFrames, seed: int
                     ) -> dict[str, Any]:
        """Everything that decides the trained network's weights: options other than
        :attr:`unread_options` (and the zero-padding ones for other layouts)."""
        unread = self.unread_options
        if self.spec.layout != "zero-padding":
            unread += ZERO_PADDING_OPTIONS
        return artifact_key(self.spec, self.options, train, val, seed, unread)

    def pipeline(self, network: ReidNetwork, evaluation: bool = False) -> Pipeline:
        """The input pipeline feeding ``network`` (evaluation: validation and test)."""
        stored = None if evaluation else stored_crops_for(self.options, self.context)
        return network_pipeline(self.spec, self.options, network, self.context.device,
                                evaluation, stored, self.context)

    def _network(self, num_classes: int, pretrained: str) -> ReidNetwork:
        network = self.build_network(num_classes, pretrained)
        network.fix_stages_before(self.options.train_from)
        return network

    def train_or_load(self, train: PairedFrames, val: PairedFrames, seed: int | None = None
                      ) -> tuple[ReidNetwork, Path]:
        """The network trained on ``train`` (selected on ``val``) and its file, loaded
        from the artifact store when one with the same key exists. ``seed`` defaults to
        the task's. The network is returned in eval mode on the task's device."""
        options, context = self.options, self.context
        seed = context.seed if seed is None else seed
        key = self.artifact_key(train, val, seed)
        samples = SampleSet.of(train, self.spec.modalities)

        def build(meta: dict[str, Any] | None) -> ReidNetwork:
            if meta is not None:
                return self._network(int(meta["num_classes"]), "none")
            return self._network(samples.num_classes, options.pretrained)

        def fit(network: ReidNetwork) -> tuple[nn.Module, dict[str, Any]]:
            amp = options.autocast(context.device)
            validation = Validation(val, options.validation, seed)
            eval_pipeline = self.pipeline(network, evaluation=True)

            def validate(model: nn.Module) -> float:
                return validation_map(model, eval_pipeline, validation, self.spec.settings,
                                      options.eval_batch_size, amp, self.forward)

            engine = self.engine(network, samples, self.pipeline(network),
                                 self.train_config(), seed=seed, validate=validate,
                                 quiet=context.quiet, **self.engine_options())
            result = engine.fit()
            return engine.network, {"key": key, "num_classes": samples.num_classes,
                                    "result": result.to_dict()}

        folder = context.artifact_dir(self.artifact_kind, key)
        network, path = load_or_train(folder, CHECKPOINT_NAME, build, fit, seed,
                                      context.device, options.num_threads)
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
                                      images, modality, self.options.eval_batch_size,
                                      amp=self.options.autocast(device),
                                      forward=self._forward_of(modality))
        return embeddings

    def _forward_of(self, modality: str) -> Callable[[nn.Module, torch.Tensor], torch.Tensor]:
        return functools.partial(_forward_modality, self.forward, modality=modality)


def _forward_modality(forward: Callable[..., torch.Tensor], network: nn.Module,
                      inputs: torch.Tensor, modality: str) -> torch.Tensor:
    return forward(network, inputs, modality)


class OpenReidNetwork(DeepMethod):
    """A :class:`ReidNetwork` with one of open-reid's heads (:data:`methods.networks.HEADS`),
    trained by the recipe of that loss."""

    head: ClassVar[str]
    recipe: ClassVar[Callable[[DeepOptions], TrainConfig]]

    def build_network(self, num_classes: int, pretrained: str) -> ReidNetwork:
        return new_network(self.spec, self.options, self.head, num_classes, pretrained)

    def train_config(self) -> TrainConfig:
        return type(self).recipe(self.options)


class SoftmaxNetwork(OpenReidNetwork):
    """Softmax head, trained by identity classification."""

    head, recipe, engine = "softmax", softmax_recipe, SoftmaxEngine
    unread_options = TRIPLET_OPTIONS


class TripletNetwork(OpenReidNetwork):
    """Triplet head, trained with the batch-hard triplet loss."""

    head, recipe, engine = "triplet", triplet_recipe, TripletEngine
    unread_options = SOFTMAX_OPTIONS

    def engine_options(self) -> dict[str, Any]:
        return {"margin": self.options.triplet_margin}


def new_network(spec: NetworkSpec, options: DeepOptions, head: str, num_classes: int,
                pretrained: str) -> ReidNetwork:
    """The open-reid network of ``head`` for ``spec``'s input layout and ``options``."""
    channels = options.zero_padding_channels if spec.layout == "zero-padding" else 3
    return build_network(options.arch, head, num_classes=num_classes,
                         embedding_dim=options.embedding_dim, dropout=options.dropout,
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


@register("one-stream")
class OneStream(SoftmaxNetwork):
    """One network shared by both modalities, 3-channel inputs, identity softmax."""

    summary = "one-stream network (Wu et al. 2017): one shared ResNet, softmax, both modalities"
    settings = CROSS_MODAL
    spec = NetworkSpec(("rgb", "depth"), "softmax")

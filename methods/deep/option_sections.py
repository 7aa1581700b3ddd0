"""The options of every deep method, in the sections a profile shows them in.

``[options.deep]`` holds one table per concern (``[options.deep.network]``,
``[options.deep.softmax]``, ...); ``--set options.deep.softmax.lr=0.05`` changes one
field. A training recipe's fields carry the names of the engine's
:class:`~methods.deep.engine.TrainConfig` they set (:func:`engine_fields`), so no code maps
them by hand. A method's ``Options`` class holds exactly the sections (and fields) it
reads, so its identity (:mod:`methods.core.identity`) is built from them and nothing else;
``[options.deep]`` offers fields to every deep method, each takes those it declares.
``Literal`` fields are checked where the profile is parsed
(:func:`methods.core.options.build_options`); ``__post_init__`` checks ranges and the
combinations that cannot work.

The keys of the flat layout that came before name their new place in one error line
(:data:`RENAMED`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from methods.core.errors import ConfigError
from methods.core.identity import speed_only
from methods.deep.augment import CROP_SOURCES, RESIZE_KERNELS, Augmentation
from methods.deep.backbones.families import family
from methods.deep.backbones.interface import ENTRY_POINTS
from methods.deep.engine import EVAL_SCHEDULES, TrainConfig, autocast_enabled, float32_precision
from methods.deep.inputs import DEPTH_ENCODINGS
from methods.deep.model_selection import VALIDATIONS

ZERO_PADDING_EVAL = ("as-trained", "authors")
ENGINE_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))


@dataclass(frozen=True)
class NetworkOptions:
    """``[options.deep.network]``: the network and what it sees.

    Attributes:
        arch: a registered backbone
            (:func:`methods.deep.backbones.families.register_backbone`; built in:
            ``resnet10`` ... ``resnet101``, ``efficientnet-lite0``), checked here.
        pretrained: ``"none"``, ``"imagenet"`` (torchvision ``IMAGENET1K_V1``; Lite0: the
            installed weights package) or the path of a state-dict file.
        height, width: network input size; crops are resized to it.
        embedding_dim: size of the embedding layer.
        train_from: the first trunk stage that learns (``"stem"``, ``"layer1"`` ...
            ``"layer4"``, or ``"head"``: the whole trunk is fixed and only the head
            learns); earlier stages keep their (pretrained) weights and BatchNorm
            statistics. ``"stem"`` (default) trains everything, as the authors.
        depth_encoding: depth as network input, ``"normalised"`` (per-crop stretched
            8-bit depth replicated to 3 channels), ``"colormap"`` (JET), ``"stored"``
            (depth that is already 8-bit, as the prepared layout's JPEGs, replicated to 3
            channels unchanged: the authors' ``.convert('RGB')``,
            ``open-reid/reid/utils/data/preprocessor.py:40``) or ``"relative"`` (depth
            around the person's, ±1 m; :func:`methods.deep.inputs.relative_grey`).
        crop_from: where training crops are cut: ``"resized"`` (the crop cache's images at
            the run's ``image_size``, one batched ``grid_sample``) or ``"stored"`` (the
            data set's stored image in its own pixels, resized to ``height`` x ``width``
            afterwards, as the authors' ``RandomSizedRectCrop``,
            ``open-reid/reid/utils/data/transforms.py:28-44``).
        resize: the kernel that resizes images to the network input: ``"torch"``
            (antialiased bilinear on the device) or ``"pil-bilinear"`` (PIL's
            ``Image.BILINEAR`` per image on the host, the authors' ``RectScale`` and crop
            resize, ``transforms.py:9-19,44``).
    """

    arch: str = "resnet50"
    pretrained: str = "none"
    height: int = 256
    width: int = 128
    embedding_dim: int = 128
    train_from: Literal[ENTRY_POINTS] = "stem"
    depth_encoding: Literal[DEPTH_ENCODINGS] = "normalised"
    crop_from: Literal[CROP_SOURCES] = "resized"
    resize: Literal[RESIZE_KERNELS] = "torch"

    def __post_init__(self) -> None:
        family(self.arch)
        if min(self.height, self.width, self.embedding_dim) < 1:
            raise ConfigError("height, width and embedding_dim must be >= 1")


@dataclass(frozen=True)
class ZeroPaddingNetwork(NetworkOptions):
    """``[options.deep.network]`` as the zero-padding network reads it.

    Attributes:
        zero_padding_channels: input channels of the zero-padding layout: 3 (the
            authors' code: RGB grey, 0, depth grey) or 2.
    """

    zero_padding_channels: Literal[2, 3] = 3


@dataclass(frozen=True)
class SelectionOptions:
    """``[options.deep.selection]``: how long to train and when to validate; the epoch
    with the best validation mAP is kept.

    Attributes:
        epochs: training epochs.
        eval_every: validation every this many epochs.
        eval_schedule: ``"authors"`` (after epochs 1, 1 + eval_every, ...: their
            ``epoch % 10 == 0`` with 0-based epochs, ``open-reid/examples/softmax_loss.py:173``)
            or ``"end-of-period"`` (after epochs eval_every, 2 x eval_every, ... and the last).
        patience: early stopping after this many validations without improvement
            (0 = train all epochs; the best validated epoch is restored either way).
    """

    epochs: int = 100
    eval_every: int = 10
    eval_schedule: Literal[EVAL_SCHEDULES] = "authors"
    patience: int = 0

    def __post_init__(self) -> None:
        if min(self.epochs, self.eval_every) < 1 or self.patience < 0:
            raise ConfigError("epochs and eval_every must be >= 1, patience >= 0")


@dataclass(frozen=True)
class SoftmaxRecipe:
    """``[options.deep.softmax]``: identity classification, SGD with Nesterov momentum,
    rate x0.1 every ``lr_step`` epochs, shuffled batches of ``batch_size``.

    Attributes:
        lr, batch_size, lr_step, momentum, weight_decay: the engine's settings of the same
            names (:class:`~methods.deep.engine.TrainConfig`).
        backbone_lr_mult: learning-rate factor of a *pretrained* trunk; a random trunk
            trains at full rate. 1.0 is the authors' (one parameter group,
            ``open-reid/examples/softmax_loss.py:143``).
        dropout: dropout of the softmax head.
    """

    optimizer: ClassVar[str] = "sgd"
    sampler: ClassVar[str] = "random"
    outside_engine: ClassVar[tuple[str, ...]] = ("dropout",)

    lr: float = 0.1
    batch_size: int = 64
    lr_step: int = 40
    momentum: float = 0.9
    weight_decay: float = 5e-4
    backbone_lr_mult: float = 1.0
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.lr <= 0 or not 0.0 <= self.dropout < 1.0:
            raise ConfigError("needs batch_size >= 1, lr > 0, 0 <= dropout < 1")


@dataclass(frozen=True)
class TripletRecipe:
    """``[options.deep.triplet]``: batch-hard triplet loss, Adam at a constant rate,
    batches of ``p`` identities x ``k`` images.

    Attributes:
        lr, p, k, weight_decay: the engine's settings of the same names.
        identity_epochs: an epoch draws each training identity once, ``k`` images each,
            as open-reid's ``RandomIdentitySampler``
            (``open-reid/reid/utils/data/sampler.py:11-33``: 32 identities x 4 / 64 = 2
            iterations on BIWI); ``false``: one pass over the training images.
        margin: the triplet margin.
    """

    optimizer: ClassVar[str] = "adam"
    sampler: ClassVar[str] = "identity"
    lr_step: ClassVar[int] = 0
    outside_engine: ClassVar[tuple[str, ...]] = ("margin",)

    lr: float = 2e-4
    p: int = 16
    k: int = 4
    weight_decay: float = 5e-4
    identity_epochs: bool = True
    margin: float = 0.5

    def __post_init__(self) -> None:
        if self.p < 2 or self.k < 2 or self.lr <= 0:
            raise ConfigError("needs p >= 2, k >= 2 and lr > 0")


@dataclass(frozen=True)
class NumericsOptions:
    """``[options.deep.numerics]``: the arithmetic of training and embedding.

    Attributes:
        amp: bfloat16 autocast on a GPU (the authors trained in fp32, PyTorch 0.4).
        tf32: with ``amp`` off, let CUDA convolutions and matmuls use TF32 on Ampere and
            newer GPUs. ``false`` (default) switches TF32 off for the task and restores
            the previous setting after: true fp32, as the authors' CUDA 9 GPUs computed
            (:func:`methods.deep.engine.float32_precision`).
    """

    amp: bool = False
    tf32: bool = False


@dataclass(frozen=True)
class ComputeOptions:
    """``[options.deep.compute]``: how fast, not what; no field is part of an identity
    or a key (:func:`methods.core.identity.speed_only`).

    Attributes:
        eval_batch_size: batch size of embedding extraction (eval mode: a batch's
            embeddings do not depend on the others').
        num_threads: torch CPU threads while training (0 = torch's default). The thread
            count can change the last bits of a float sum, so it is recorded in every
            record's provenance (with the CPU) and reported by ``tables`` when records
            were made with different counts; like the CPU, it is not part of an identity.
        cache_fixed_stages: compute the fixed stages' output once per distinct input and
            keep it in the artifact store, shared by every epoch, fold and method starting
            from the same weights (:mod:`methods.deep.fixed_outputs`). Needs ``train_from``
            after the stem, ``crop = "none"`` and no random erasing (a random crop is a
            new input every time); flips are two inputs per image.
    """

    eval_batch_size: int = speed_only(256)
    num_threads: int = speed_only(0)
    cache_fixed_stages: bool = speed_only(False)

    def __post_init__(self) -> None:
        if self.eval_batch_size < 1 or self.num_threads < 0:
            raise ConfigError("eval_batch_size must be >= 1, num_threads >= 0")


@dataclass(frozen=True)
class ReproductionOptions:
    """``[options.deep.reproduction]``: the switches of the authors' code whose behaviour
    differs from the paper's text and changes numbers (the ``paper-corrected`` profile
    turns them off).

    Attributes:
        validation: the model-selection protocol, ``"temporal"`` or ``"authors"``
            (:mod:`methods.deep.model_selection`).
    """

    validation: Literal[VALIDATIONS] = "temporal"


@dataclass(frozen=True)
class ZeroPaddingReproduction(ReproductionOptions):
    """``[options.deep.reproduction]`` as the zero-padding network reads it.

    Attributes:
        zero_padding_eval: where zero-padding puts depth at validation and test:
            ``"as-trained"`` (the last channel) or ``"authors"`` (channel 0: their
            single-root loaders send every image down the RGB branch,
            ``open-reid/examples/softmax_loss_zp.py:68-90``, ``preprocessor.py:76-84,100-105``).
    """

    zero_padding_eval: Literal[ZERO_PADDING_EVAL] = "as-trained"


# Old flat key -> its place under [options] ("group.section.field"), for the error.
RENAMED: dict[str, str] = {
    **{k: f"deep.network.{k}" for k in ("arch", "pretrained", "height", "width",
                                        "embedding_dim", "train_from", "depth_encoding",
                                        "zero_padding_channels", "crop_from", "resize")},
    **{k: f"deep.selection.{k}" for k in ("epochs", "eval_every", "eval_schedule", "patience")},
    "softmax_lr": "deep.softmax.lr", "softmax_batch_size": "deep.softmax.batch_size",
    "lr_step_epochs": "deep.softmax.lr_step", "dropout": "deep.softmax.dropout",
    "backbone_lr_mult": "deep.softmax.backbone_lr_mult",
    "weight_decay": "deep.softmax.weight_decay (and [options.deep.triplet] weight_decay)",
    "triplet_lr": "deep.triplet.lr", "triplet_p": "deep.triplet.p",
    "triplet_k": "deep.triplet.k",
    "triplet_margin": "deep.triplet.margin",
    "triplet_epoch": "deep.triplet.identity_epochs (true for \"identities\", false for \"images\")",
    "augment": "deep.augmentation.crop", "flip": "deep.augmentation.flip",
    "random_erasing": "deep.augmentation.erasing",
    "amp": "deep.numerics.amp", "tf32": "deep.numerics.tf32",
    **{k: f"deep.compute.{k}" for k in ("eval_batch_size", "num_threads",
                                        "cache_fixed_stages")},
    "zero_padding_eval": "deep.reproduction.zero_padding_eval",
    "validation": "deep.reproduction.validation",
}


@dataclass(frozen=True)
class NetworkTaskOptions:
    """The sections every method that runs a network reads: the network and its input,
    arithmetic, speed and the authors'-code switches."""

    RENAMED: ClassVar[dict[str, str]] = RENAMED

    network: NetworkOptions = field(default_factory=NetworkOptions)
    numerics: NumericsOptions = field(default_factory=NumericsOptions)
    compute: ComputeOptions = field(default_factory=ComputeOptions)
    reproduction: ReproductionOptions = field(default_factory=ReproductionOptions)

    def autocast(self, device: str) -> bool:
        """Whether to run in bfloat16 autocast on ``device`` (``amp`` on a GPU only)."""
        return autocast_enabled(self.numerics.amp, device)

    def precision(self) -> contextlib.AbstractContextManager:
        """The TF32 switches of a task with these options (see ``numerics.tf32``)."""
        return float32_precision(self.numerics.amp, self.numerics.tf32)


@dataclass(frozen=True)
class DeepOptions(NetworkTaskOptions):
    """Options of a deep method that trains one network (profile section
    ``[options.deep]``), one field per section; a method's class adds the recipe
    section it trains by (:class:`SoftmaxOptions`, :class:`TripletOptions`), so it holds
    exactly the sections it reads. Defaults are the paper's / the authors' settings
    without ImageNet weights, except ``network.crop_from`` and ``network.resize``, which
    default to the crop cache and torch's kernel (the ``paper`` profiles set the
    authors' ``"stored"`` and ``"pil-bilinear"``)."""

    augmentation: Augmentation = field(default_factory=Augmentation)
    selection: SelectionOptions = field(default_factory=SelectionOptions)

    def __post_init__(self) -> None:
        if self.compute.cache_fixed_stages:
            check_cacheable(self.network.train_from, self.augmentation)
        check_crop_source(self.network, self.augmentation.crop,
                          self.compute.cache_fixed_stages)

    def engine_config(self, recipe: Any, **fixed: Any) -> TrainConfig:
        """The engine settings of training by ``recipe`` (a section of these options):
        ``selection`` and ``augmentation`` from here, then the recipe's fields and class
        constants of the engine's names (:func:`engine_fields`), then ``fixed``."""
        return TrainConfig(**{**engine_fields(self.selection),
                              "augmentation": self.augmentation,
                              **engine_fields(self.numerics), **engine_fields(recipe),
                              **fixed})


@dataclass(frozen=True)
class SoftmaxOptions(DeepOptions):
    """A softmax network's options: :class:`DeepOptions` and ``[options.deep.softmax]``."""

    softmax: SoftmaxRecipe = field(default_factory=SoftmaxRecipe)


@dataclass(frozen=True)
class TripletOptions(DeepOptions):
    """A triplet network's options: :class:`DeepOptions` and ``[options.deep.triplet]``."""

    triplet: TripletRecipe = field(default_factory=TripletRecipe)


@dataclass(frozen=True)
class ZeroPaddingOptions(SoftmaxOptions):
    """The zero-padding network's options: the softmax network's, with the zero-padding
    fields of ``network`` and ``reproduction``."""

    network: ZeroPaddingNetwork = field(default_factory=ZeroPaddingNetwork)
    reproduction: ZeroPaddingReproduction = field(default_factory=ZeroPaddingReproduction)


def engine_fields(section: Any) -> dict[str, Any]:
    """The fields and class constants of ``section`` named as :class:`TrainConfig`'s; a
    field that is neither an engine setting nor listed in ``outside_engine`` is an error,
    so a recipe cannot hold a setting that silently reaches nothing."""
    values = {name: getattr(section, name) for name in ENGINE_FIELDS
              if hasattr(section, name)}
    stray = [f.name for f in dataclasses.fields(section) if f.name not in ENGINE_FIELDS
             and f.name not in getattr(section, "outside_engine", ())]
    if stray:
        raise TypeError(f"{type(section).__name__}: fields {stray} set no engine setting; "
                        f"list them in outside_engine")
    return values


def check_crop_source(network: NetworkOptions, crop: str, cache_fixed_stages: bool) -> None:
    """Raise :class:`ConfigError` unless training crops can come from
    ``network.crop_from`` and be resized with ``network.resize``."""
    if network.resize == "pil-bilinear" and cache_fixed_stages:
        raise ConfigError("network.resize = \"pil-bilinear\" resizes on the host, image by "
                          "image; compute.cache_fixed_stages needs resize = \"torch\"")
    if network.crop_from != "stored":
        return
    if network.resize != "pil-bilinear":
        raise ConfigError("network.crop_from = \"stored\" cuts crops of many sizes, which are "
                          "resized one by one with PIL: set network.resize = \"pil-bilinear\"")
    if crop == "pad-crop":
        raise ConfigError("network.crop_from = \"stored\" takes the crop \"rect-crop\" or "
                          "\"none\", not \"pad-crop\"")
    if cache_fixed_stages:
        raise ConfigError("network.crop_from = \"stored\" reads images of many sizes; "
                          "compute.cache_fixed_stages needs the crop cache's: set "
                          "network.crop_from = \"resized\"")


def check_cacheable(train_from: str, augmentation: Augmentation) -> None:
    """Raise :class:`ConfigError` unless fixed-stage outputs can be reused with these
    settings (see :attr:`ComputeOptions.cache_fixed_stages`)."""
    if train_from == "stem":
        raise ConfigError("compute.cache_fixed_stages needs fixed stages: set "
                          "network.train_from to a later stage ('layer1' ... 'layer4' or "
                          "'head')")
    if augmentation.crop != "none" or augmentation.erasing > 0:
        raise ConfigError(f"compute.cache_fixed_stages needs the crop \"none\" and no "
                          f"erasing (got {augmentation.crop!r}, {augmentation.erasing}): a "
                          f"random crop or erasure is a new input every time, so nothing "
                          f"is reused")

"""The cross-modal distillation network (paper Sec. 3.2), both directions, both losses.

Step I is the single-modal network F of the source modality (``resnet-<source>-<loss>``,
reused from the artifact store, never retrained here). Step II copies F into G, freezes
G from a mid-level convolution up to the embedding and trains G's lower part on the
target modality to reproduce F's embedding of the paired source image (same time
step). At test time F embeds source images and G target images; Euclidean distance.

Defaults are the authors' step-II code, every choice is an option
(:class:`DistillationOptions`: the fields of ``[options.deep]`` that G's input and
arithmetic read, then ``[options.distillation]``). F is the step-I task the run's plan
resolved, with its own options.

Methods:
    distill-depth2rgb-{softmax,triplet}: F on depth, G learns RGB (the paper's best).
    distill-rgb2depth-{softmax,triplet}: F on RGB, G learns depth.
    distill-depth2rgb-softmax-freeze-layer{1..4}, distill-depth2rgb-softmax-bn-fixed:
        ablations (freeze point, frozen BatchNorm), each fixing its one varied option
        and training with the seed of ``distill-depth2rgb-softmax``, so that only that
        option differs from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from benchmark.datasets.frames import PairedFrames
from benchmark.errors import ConfigError
from methods.augment import Augmentation
from methods.base import CROSS_MODAL, Matcher
from methods.context import TaskContext
from methods.deep import DeepMethod, NetworkSpec, network_pipeline, stored_crops_for
from methods.deep_data import SampleSet, embed_images
from methods.deep_options import (
    NetworkTaskOptions,
    ReproductionOptions,
    check_cacheable,
    check_crop_source,
    engine_fields,
)
from methods.distillation_parts import (
    FROZEN_BN,
    REDUCTIONS,
    CrossModalValidator,
    DistillationEngine,
    StudentNetwork,
    check_freeze_point,
    freeze_teacher,
    frozen_modules,
    resolve_freeze_point,
)
from methods.engine import TrainConfig
from methods.networks import ReidNetwork
from methods.registry import get_method, register
from methods.trained import load_or_train, torch_threads
from methods.validation import Validation

ARTIFACT_KIND = "distillation-network"
CHECKPOINT_NAME = "student.pt"
DIRECTIONS = {"depth2rgb": ("depth", "rgb"), "rgb2depth": ("rgb", "depth")}
FREEZE_SWEEP = ("layer1", "layer2", "layer3", "layer4")
TRAIN_SPLITS = ("fold", "split-0")
# Old flat keys of [options.distillation] -> their new place.
STEP2_RENAMED = {
    **{k: f"distillation.step2.{k}" for k in ("freeze_from", "frozen_bn", "loss_reduction")},
    **{f"distill_{k}": f"distillation.step2.{k}"
       for k in ("lr", "momentum", "weight_decay", "epochs", "batch_size", "drop_last",
                 "eval_every", "dropout")},
    "distill_augment": "distillation.step2.augmentation.crop",
    "distill_flip": "distillation.step2.augmentation.flip",
    "distill_train_split": "distillation.reproduction.train_split",
}


@dataclass(frozen=True)
class Step2Recipe:
    """``[options.distillation.step2]``: how G learns (SGD with Nesterov momentum,
    constant rate; the authors' step-II code by default).

    Attributes:
        lr, momentum, weight_decay, epochs, batch_size, drop_last, eval_every,
            augmentation: the engine's settings of the same names
            (:class:`~methods.engine.TrainConfig`). ``epochs`` are passes over the
            training frames; ``batch_size`` paired frames per batch (the authors' code
            defaults to 64, ``transfer-reid/transfer-reid.py:79``; their published command
            passes 16, ``README.md:52``); ``drop_last = false`` keeps the last partial
            batch (the authors' ``drop_last=False``, ``transfer-reid/retrainer.py:280``);
            G is validated (sum of both cross-modal mAPs on the validation identities)
            every ``eval_every`` epochs and after the last, and the best is kept;
            ``augmentation`` is G's inputs' (the authors' rect crop and random flip,
            ``transfer-reid/retrainer.py:239-244``); F's targets are its embeddings of the
            unaugmented frames.
        freeze_from: first frozen module; it and every module after it in forward order,
            up to and including the embedding head, are frozen. ``"layer1"`` ...
            ``"layer4"`` name the convolution closing the stage's first block
            (``layer3`` = ``layer3.0.conv3`` on ResNet-50, the authors' point, and
            ``layer3.0.conv2`` on ResNet-18/34); a module name (``"layer3.0.conv3"``,
            ``"backbone.layer2.1.conv1"``, ``"head.feat"``) is taken as is.
        frozen_bn: ``"adapt"`` (the authors': the frozen part is in train mode, its
            BatchNorm running statistics follow the target modality) or ``"fixed"``
            (the frozen part stays in eval mode: statistics and dropout fixed, the
            strictly frozen upper network of the paper's text).
        loss_reduction: ``"sum"`` (squared error summed over batch and embedding, the
            authors'), ``"mean"`` (over the batch x embedding elements) or
            ``"per-sample"`` (squared distance averaged over the batch, the paper's
            Eq. 3). Rescale ``lr`` and ``weight_decay`` with
            :func:`methods.distillation_parts.equivalent_settings` for the same training.
        dropout: dropout in G while it learns (the authors' 0.5, see
            :class:`~methods.distillation_parts.StudentNetwork`).
    """

    optimizer: ClassVar[str] = "sgd"
    sampler: ClassVar[str] = "random"
    lr_step: ClassVar[int] = 0
    patience: ClassVar[int] = 0
    outside_engine: ClassVar[tuple[str, ...]] = ("freeze_from", "frozen_bn",
                                                 "loss_reduction", "dropout")

    lr: float = 2e-6
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 30
    batch_size: int = 64
    drop_last: bool = True
    eval_every: int = 1
    augmentation: Augmentation = field(default_factory=Augmentation)
    freeze_from: str = "layer3"
    frozen_bn: Literal[FROZEN_BN] = "adapt"
    loss_reduction: Literal[REDUCTIONS] = "sum"
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout must be in [0, 1)")
        if min(self.epochs, self.batch_size, self.eval_every) < 1:
            raise ConfigError("epochs, batch_size and eval_every must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ConfigError("need lr > 0, weight_decay >= 0, 0 <= momentum < 1")


@dataclass(frozen=True)
class DistillationReproduction(ReproductionOptions):
    """``[options.deep.reproduction]`` plus ``[options.distillation.reproduction]``.

    Attributes:
        train_split: whose identities G learns on: ``"fold"`` (the fold's own training
            identities) or ``"split-0"`` (the authors' code: split 0's training list on
            every fold, ``transfer-reid/gt_extractor.py:75``). Split 0's training list
            shares no identity with any split's test list; on folds 1-2 it holds 24 of
            the fold's 32 training identities (RobotPKU: 30 of 40) and all of the fold's
            validation identities, so G learns on identities F was selected on. F is the
            fold's own step-I network either way.
    """

    train_split: Literal[TRAIN_SPLITS] = "fold"


@dataclass(frozen=True)
class DistillationOptions(NetworkTaskOptions):
    """Step-II options: G's network input, arithmetic and selection protocol (fields of
    ``[options.deep]``, overridable in ``[options.distillation]``) and its recipe
    (``[options.distillation.step2]``). F's options are the step-I task's own."""

    RENAMED: ClassVar[dict[str, str]] = {**NetworkTaskOptions.RENAMED, **STEP2_RENAMED}

    step2: Step2Recipe = field(default_factory=Step2Recipe)
    reproduction: DistillationReproduction = field(default_factory=DistillationReproduction)

    def __post_init__(self) -> None:
        check_freeze_point(self.network.arch, self.step2.freeze_from)
        check_crop_source(self.network, self.step2.augmentation.crop,
                          self.compute.cache_fixed_stages)
        if self.compute.cache_fixed_stages:
            check_cacheable(self.network.train_from, self.step2.augmentation)

    def train_config(self) -> TrainConfig:
        """The engine settings of step II (numerics from ``[options.deep]``)."""
        return TrainConfig(**{**engine_fields(self.numerics), **engine_fields(self.step2)})


class Distillation(Matcher):
    """Cross-modal distillation: F (step I) for the source modality, G for the target."""

    settings = CROSS_MODAL
    option_group: ClassVar[tuple[str, ...]] = ("deep", "distillation")
    Options = DistillationOptions
    source: ClassVar[str]
    target: ClassVar[str]
    loss: ClassVar[str]

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        super().__init__(context, **options)
        self.teacher: ReidNetwork | None = None
        self.student: ReidNetwork | None = None
        self.checkpoint: Path | None = None
        self.teacher_checkpoint: Path | None = None

    @classmethod
    def step1_method(cls) -> str:
        """The method whose network is F: the first of :attr:`requires`."""
        return cls.requires[0]

    def step1(self) -> DeepMethod:
        """F's method as the run's plan resolved its task on this fold (its options, seed
        and training key, :meth:`TaskContext.input`), so F is that task's network whatever
        sections set it; outside a run (no declared input) F's defaults with the fields
        of these options it declares, and the seed that task would get."""
        name = self.step1_method()
        cls = get_method(name)
        key = None
        if name in self.context.inputs:
            given, seed = self.context.input(name).options, self.context.input(name).seed
            key = self.context.input(name).training_key
        else:
            given, seed = dataclasses.asdict(self.options), self.context.seed_of(name)
        context = dataclasses.replace(self.context, seed=seed, task_key=key, force=False,
                                      inputs={})
        return cls.from_offered(context, **given)

    def training_seed(self) -> int:
        """The seed of G's training: this task's, or the base method's for an ablation."""
        if self.seed_method is None:
            return self.context.seed
        return self.context.input(self.seed_method).seed

    def fit(self, train: PairedFrames, val: PairedFrames) -> Distillation:
        with self.options.precision():
            return self._fit(train, val)

    def _fit(self, train: PairedFrames, val: PairedFrames) -> Distillation:
        options = self.options
        step1 = self.step1()
        teacher, self.teacher_checkpoint = step1.train_or_load(train, val)
        self.teacher = freeze_teacher(teacher)
        module = resolve_freeze_point(teacher, options.step2.freeze_from)
        learn_on = self.student_training_frames(train)
        seed = self.training_seed()
        key = self.training_key(train, val)
        threads = torch.get_num_threads()

        def build(meta: dict[str, Any] | None) -> StudentNetwork:
            return StudentNetwork(teacher, frozen_modules(teacher, module),
                                  fixed_bn=options.step2.frozen_bn == "fixed",
                                  dropout=options.step2.dropout)

        def fit(student: StudentNetwork) -> tuple[StudentNetwork, dict[str, Any]]:
            result = self._train(student, learn_on, val, seed, threads)
            return student, {"key": key, "freeze_from": module, "frozen": student.frozen,
                             "trainable": student.trainable_names(), "result": result}

        folder = self.context.artifact_dir(ARTIFACT_KIND, {"task": key})
        student, self.checkpoint = load_or_train(folder, CHECKPOINT_NAME, build, fit, seed,
                                                 self.context.device,
                                                 options.compute.num_threads,
                                                 force=self.context.forced_once(folder))
        self.student = student.to(self.context.device).eval()
        return self

    def student_training_frames(self, train: PairedFrames) -> PairedFrames:
        """The frames G learns on: the fold's, or split 0's (``reproduction.train_split``)."""
        if self.options.reproduction.train_split == "fold":
            return train
        if self.context.first_fold_train is not None:
            return self.context.first_fold_train()
        if self.context.fold == 0:
            return train
        raise ConfigError("reproduction.train_split = \"split-0\" needs the runner's split 0 "
                          "(TaskContext.first_fold_train)")

    def _train(self, student: StudentNetwork, train: PairedFrames, val: PairedFrames,
               seed: int, threads: int) -> dict[str, Any]:
        """Train G (within :func:`~methods.trained.load_or_train`'s seeded block); F's
        targets are computed with the caller's ``threads``, as G's validation is."""
        options, device = self.options, self.context.device
        spec = NetworkSpec((self.target,), self.loss)
        pipeline = network_pipeline(spec, options, student, device,
                                    stored=stored_crops_for(options, self.context),
                                    context=self.context)
        amp = options.autocast(device)
        with torch_threads(threads):
            targets = torch.from_numpy(embed_images(self.teacher, pipeline,
                                                    train.images(self.source), self.source,
                                                    options.compute.eval_batch_size, amp))
        validate = CrossModalValidator(self.teacher, pipeline,
                                       Validation(val, options.reproduction.validation, seed),
                                       self.source, self.target,
                                       options.compute.eval_batch_size, amp)
        engine = DistillationEngine(student, SampleSet.of(train, (self.target,)),
                                    pipeline, options.train_config(), seed=seed,
                                    validate=validate, quiet=self.context.quiet,
                                    targets=targets, reduction=options.step2.loss_reduction)
        return engine.fit().to_dict()

    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        if self.teacher is None or self.student is None:
            raise RuntimeError(f"{self.name}: call fit() before embed()")
        if modality not in (self.source, self.target):
            raise ValueError(f"{self.name}: unknown modality {modality!r}")
        network = self.teacher if modality == self.source else self.student
        device = self.context.device
        pipeline = network_pipeline(NetworkSpec((modality,), self.loss), self.options,
                                    network, device, context=self.context)
        with self.options.precision():
            embeddings = embed_images(network, pipeline, images, modality,
                                      self.options.compute.eval_batch_size,
                                      amp=self.options.autocast(device))
        return embeddings


def _variant(direction: str, loss: str, suffix: str = "", pinned: dict[str, Any] | None = None,
             summary: str = "") -> type[Distillation]:
    source, target = DIRECTIONS[direction]
    base = f"distill-{direction}-{loss}"
    step1 = f"resnet-{source}-{loss}"
    title = "".join(p.capitalize() for p in f"{base}{suffix}".replace("-", " ").split())

    class Variant(Distillation):
        __doc__ = (f"Cross-modal distillation {source} -> {target}, {loss} step I"
                   + (f"; ablation {suffix}" if suffix else "") + ".")

    Variant.source, Variant.target, Variant.loss = source, target, loss
    Variant.requires = (step1, base) if suffix else (step1,)
    Variant.pinned = dict(pinned or {})
    Variant.seed_method = base if suffix else None
    Variant.ablation = bool(suffix)
    Variant.summary = summary or (f"cross-modal distillation: step I on {source} ({loss}), "
                                  f"G learns {target}")
    Variant.__name__ = Variant.__qualname__ = title
    return register(base + suffix)(Variant)


DistillDepth2rgbSoftmax = _variant("depth2rgb", "softmax")
DistillDepth2rgbTriplet = _variant("depth2rgb", "triplet")
DistillRgb2depthSoftmax = _variant("rgb2depth", "softmax")
DistillRgb2depthTriplet = _variant("rgb2depth", "triplet")

FREEZE_ABLATIONS = {
    stage: _variant("depth2rgb", "softmax", f"-freeze-{stage}", {"step2": {"freeze_from": stage}},
                    f"ablation: distill-depth2rgb-softmax frozen from {stage}")
    for stage in FREEZE_SWEEP
}
BN_ABLATION = _variant("depth2rgb", "softmax", "-bn-fixed", {"step2": {"frozen_bn": "fixed"}},
                       "ablation: distill-depth2rgb-softmax, frozen part in eval mode")

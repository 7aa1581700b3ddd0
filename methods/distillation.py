"""The cross-modal distillation network (paper Sec. 3.2), both directions, both losses.

Step I is the single-modal network F of the source modality (``resnet-<source>-<loss>``,
reused from the artifact store, never retrained here). Step II copies F into G, freezes
G from a mid-level convolution up to the embedding and trains G's lower part on the
target modality to reproduce F's embedding of the paired source image (same time
step). At test time F embeds source images and G target images; Euclidean distance.
Built on :class:`methods.api.TeacherStudent` (F is its one teacher, G its student),
through ``methods.api`` alone, as a plugin is.

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

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import torch

from methods import api

DIRECTIONS = {"depth2rgb": ("depth", "rgb"), "rgb2depth": ("rgb", "depth")}
FREEZE_SWEEP = ("layer1", "layer2", "layer3", "layer4")
TRAIN_SPLITS = ("fold", "split-0")
FROZEN_BN = ("adapt", "fixed")
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
            (:class:`~methods.deep.engine.TrainConfig`). ``epochs`` are passes over the
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
            :func:`methods.teacher_student.distillation_parts.equivalent_settings` for the
            same training.
        dropout: dropout in G while it learns (the authors' 0.5, see
            :class:`~methods.teacher_student.distillation_parts.StudentNetwork`).
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
    augmentation: api.Augmentation = field(default_factory=api.Augmentation)
    freeze_from: str = "layer3"
    frozen_bn: Literal[FROZEN_BN] = "adapt"
    loss_reduction: Literal[api.DISTILLATION_REDUCTIONS] = "sum"
    dropout: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.dropout < 1.0:
            raise api.ConfigError("dropout must be in [0, 1)")
        if min(self.epochs, self.batch_size, self.eval_every) < 1:
            raise api.ConfigError("epochs, batch_size and eval_every must be >= 1")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise api.ConfigError("need lr > 0, weight_decay >= 0, 0 <= momentum < 1")


@dataclass(frozen=True)
class DistillationReproduction(api.ReproductionOptions):
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
class DistillationOptions(api.NetworkTaskOptions):
    """Step-II options: G's network input, arithmetic and selection protocol (fields of
    ``[options.deep]``, overridable in ``[options.distillation]``) and its recipe
    (``[options.distillation.step2]``). F's options are the step-I task's own."""

    RENAMED: ClassVar[dict[str, str]] = {**api.NetworkTaskOptions.RENAMED, **STEP2_RENAMED}

    step2: Step2Recipe = field(default_factory=Step2Recipe)
    reproduction: DistillationReproduction = field(default_factory=DistillationReproduction)

    def __post_init__(self) -> None:
        api.check_freeze_point(self.network.arch, self.step2.freeze_from)
        api.check_training_input(self, self.step2.augmentation)

    def train_config(self) -> api.TrainConfig:
        """The engine settings of step II (numerics from ``[options.deep]``)."""
        return api.TrainConfig(**{**api.engine_fields(self.numerics),
                                  **api.engine_fields(self.step2)})


class Distillation(api.TeacherStudent):
    """Cross-modal distillation: F (step I, the one teacher) embeds the source modality, G
    (the student, F's copy frozen from ``step2.freeze_from`` on) the target."""

    option_group: ClassVar[tuple[str, ...]] = ("deep", "distillation")
    Options = DistillationOptions
    artifact_kind = "distillation-network"
    source: ClassVar[str]
    target: ClassVar[str]

    def step1(self) -> api.DeepMethod:
        """F's method as the run's plan resolved its task (:meth:`teacher_method`)."""
        return self.teacher_method(self.teachers[0])

    def build_student(self) -> api.StudentNetwork:
        step2, frozen = self.options.step2, api.frozen_modules(self.teacher, self.freeze_point())
        return api.StudentNetwork(self.teacher, frozen, fixed_bn=step2.frozen_bn == "fixed",
                                  dropout=step2.dropout)

    def freeze_point(self) -> str:
        """The full name of G's first frozen module in F (``step2.freeze_from`` resolved)."""
        return api.resolve_freeze_point(self.teacher, self.options.step2.freeze_from)

    def student_loss(self, outputs: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...],
                     batch: api.Batch) -> torch.Tensor:
        return api.distillation_loss(outputs[0], targets[0], self.options.step2.loss_reduction)

    def train_config(self) -> api.TrainConfig:
        return self.options.train_config()

    def student_meta(self, student: api.StudentNetwork) -> dict[str, Any]:
        return {"freeze_from": self.freeze_point(), "frozen": student.frozen,
                "trainable": student.trainable_names()}

    def validation_settings(self) -> tuple[tuple[str, str], ...]:
        """Both cross-modal settings, the source's queries first (their summed mAP)."""
        return (self.source, self.target), (self.target, self.source)

    def student_training_frames(self, train: api.PairedFrames) -> api.PairedFrames:
        """The frames G learns on: the fold's, or split 0's (``reproduction.train_split``)."""
        if self.options.reproduction.train_split == "fold":
            return train
        if self.context.first_fold_train is not None:
            return self.context.first_fold_train()
        if self.context.fold == 0:
            return train
        raise api.ConfigError("reproduction.train_split = \"split-0\" needs the runner's "
                              "split 0 (TaskContext.first_fold_train)")


def _variant(direction: str, loss: str, suffix: str = "", pinned: dict[str, Any] | None = None,
             summary: str = "") -> type[Distillation]:
    source, target = DIRECTIONS[direction]
    base = f"distill-{direction}-{loss}"
    step1 = f"resnet-{source}-{loss}"
    title = "".join(p.capitalize() for p in f"{base}{suffix}".replace("-", " ").split())
    namespace = {
        "__doc__": (f"Cross-modal distillation {source} -> {target}, {loss} step I"
                    + (f"; ablation {suffix}" if suffix else "") + "."),
        "__module__": __name__, "__qualname__": title,
        "source": source, "target": target, "teachers": (step1,),
        "teacher_embeds": {source: step1}, "student_modalities": (target,),
        "pinned": dict(pinned or {}), "seed_method": base if suffix else None,
        "ablation": bool(suffix),
        "summary": summary or (f"cross-modal distillation: step I on {source} ({loss}), "
                               f"G learns {target}"),
    }
    return api.register(base + suffix)(type(title, (Distillation,), namespace))


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

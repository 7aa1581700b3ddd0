"""The one training loop of every deep method.

:class:`Engine` owns epochs, batches, optimiser, learning-rate schedule, mixed
precision, validation-based model selection (best checkpoint restored at the end,
optional early stopping), progress display and checkpoint files. A training method
subclasses it and overrides a single step, :meth:`Engine.compute_loss` (the loss of
one batch), as :class:`SoftmaxEngine` and :class:`TripletEngine` do.

An *epoch* is ``iterations_per_epoch`` batches, by default one pass over the
training images (``len(samples) // batch_size``), whichever sampler draws them; with
``identity_epochs`` a P x K epoch is each training identity once (``identities // p``
batches), as open-reid's ``RandomIdentitySampler``.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from methods.core.atomic import atomic_path, require_space
from methods.deep.augment import Augmentation
from methods.deep.inputs import Batch, Pipeline, SampleSet, prefetched
from methods.deep.losses import batch_hard_triplet_loss
from methods.deep.samplers import (
    AlternatingBatches,
    IdentityBatches,
    PairedIdentityBatches,
    RandomBatches,
)

Validator = Callable[[nn.Module], float]
EVAL_SCHEDULES = ("authors", "end-of-period")
SAMPLERS = ("random", "identity", "paired", "alternating")
Sampler = RandomBatches | IdentityBatches | AlternatingBatches
StepLoss = Callable[[nn.Module, Batch], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    Attributes:
        epochs: the most epochs to train.
        optimizer: ``"sgd"`` (Nesterov momentum) or ``"adam"``.
        lr: base learning rate.
        weight_decay: L2 weight decay.
        momentum: SGD momentum.
        backbone_lr_mult: learning-rate factor of ``model.backbone``'s parameters.
        lr_step: multiply the rate by ``lr_gamma`` every ``lr_step`` epochs (0 = never).
        lr_gamma: the step factor.
        sampler: one of :data:`SAMPLERS`: ``"random"`` (shuffled batches of
            ``batch_size``), ``"identity"`` (P x K batches of ``p`` identities with ``k``
            images each), ``"paired"`` (``p`` identities x ``k`` time steps, each in both
            modalities: ``2 * p * k`` images) or ``"alternating"`` (shuffled batches of
            ``batch_size`` images of one modality, the modalities taking turns); the last
            two need training images of both modalities.
        batch_size: batch size of the random and alternating samplers.
        p, k: the identity and paired samplers' batch composition.
        iterations_per_epoch: batches per epoch; 0 = one pass over the samples, or over
            the identities with ``identity_epochs``.
        identity_epochs: with the identity sampler, an epoch draws each identity once.
        eval_every: validate every this many epochs.
        eval_schedule: ``"end-of-period"``: after epochs ``eval_every``, 2 x ``eval_every``,
            ... and the last; ``"authors"``: after epochs 1, 1 + ``eval_every``, ...
            (open-reid's ``epoch % eval_every == 0`` with 0-based epochs).
        patience: stop after this many validations without improvement (0 = never).
        drop_last: with the random sampler, an epoch is ``len(samples) // batch_size``
            full batches (the remainder carries over to the next epoch's queue); ``False``
            keeps the last partial batch, so an epoch is one shuffled pass in
            ``ceil(len(samples) / batch_size)`` batches (PyTorch's ``drop_last=False``).
        augmentation: the training-batch augmentation.
        amp: bfloat16 autocast on CUDA (ignored on the CPU; see :func:`autocast_enabled`).
        tf32: with ``amp`` off, whether CUDA convolutions and matmuls may use TF32
            (see :func:`float32_precision`).
    """

    epochs: int = 100
    optimizer: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 5e-4
    momentum: float = 0.9
    backbone_lr_mult: float = 1.0
    lr_step: int = 40
    lr_gamma: float = 0.1
    sampler: str = "random"
    batch_size: int = 64
    drop_last: bool = True
    p: int = 16
    k: int = 4
    iterations_per_epoch: int = 0
    identity_epochs: bool = False
    eval_every: int = 10
    eval_schedule: str = "end-of-period"
    patience: int = 0
    augmentation: Augmentation = field(default_factory=Augmentation)
    amp: bool = False
    tf32: bool = False

    def __post_init__(self) -> None:
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler!r}")
        if self.epochs < 1 or self.eval_every < 1:
            raise ValueError("epochs and eval_every must be >= 1")
        if self.eval_schedule not in EVAL_SCHEDULES:
            raise ValueError(f"unknown eval_schedule {self.eval_schedule!r}")

    def validates_after(self, epoch: int) -> bool:
        """Whether the model is validated after ``epoch`` (1-based) epochs."""
        if self.eval_schedule == "authors":
            return (epoch - 1) % self.eval_every == 0
        return epoch % self.eval_every == 0 or epoch == self.epochs


@dataclass
class TrainResult:
    """What a training run did: per-epoch history and the selected epoch."""

    steps: int = 0
    epochs_run: int = 0
    best_epoch: int = 0
    best_score: float | None = None
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def autocast_enabled(amp: bool, device: torch.device | str) -> bool:
    """Whether a step runs under bfloat16 autocast: ``amp`` asked for it and the device is
    a GPU. Every training step and every embedding pass decides here."""
    return bool(amp) and torch.device(device).type == "cuda"


@contextlib.contextmanager
def float32_precision(amp: bool, tf32: bool) -> Iterator[None]:
    """Run a block with CUDA's TF32 switches set for ``amp`` / ``tf32``, restoring them after.

    Without ``amp``, convolutions (``torch.backends.cudnn.allow_tf32``) and matmuls
    (``torch.backends.cuda.matmul.allow_tf32``) use TF32 only when ``tf32`` asks for it:
    torch lets cuDNN use TF32 on Ampere and newer GPUs by default, where the authors'
    GPUs (CUDA 9) computed true fp32. With ``amp`` the switches are left as they are.
    The flags are plain process state, so setting them is harmless on a CPU-only machine.
    """
    if amp:
        yield
        return
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32 = cudnn.allow_tf32 = bool(tf32)
    try:
        yield
    finally:
        matmul.allow_tf32, cudnn.allow_tf32 = before


@contextlib.contextmanager
def seeded(seed: int, device: str = "cpu") -> Iterator[None]:
    """Run a block with torch's global generators seeded, restoring them afterwards.

    Weight initialisation and dropout draw from the global generators; forking them
    makes a task reproducible without changing the random state of its caller.
    """
    devices = [torch.cuda.current_device()] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


class Engine:
    """Trains ``model`` on ``samples``; the loss of a batch is ``loss(model, batch)``, or
    a subclass's :meth:`compute_loss`.

    The network is :attr:`network` (its weights are trained, selected and restored);
    :attr:`model` is the module :meth:`compute_loss` calls on a batch's inputs, the network
    as the pipeline feeds it (:meth:`~methods.deep.inputs.Pipeline.fed`: the network itself
    for images, its part from a trunk stage on for fixed-stage outputs), sharing its
    parameters.

    Args:
        model: the network; ``model.backbone`` (if any) gets ``backbone_lr_mult``.
        samples: the training images and labels.
        pipeline: encodes and augments batches on the training device.
        config: the training settings.
        seed: seeds the sampler and the augmentation (wrap model construction and
            :meth:`fit` in :func:`seeded` for initialisation and dropout).
        validate: a score of the current model (higher = better, e.g. validation mAP);
            ``None`` keeps the last epoch's weights.
        quiet: no progress bar.
        loss: one batch's loss, given :attr:`model` and the batch (what
            :meth:`compute_loss` returns); ``None``: a subclass overrides it.
    """

    def __init__(self, model: nn.Module, samples: SampleSet, pipeline: Pipeline,
                 config: TrainConfig, seed: int = 0, validate: Validator | None = None,
                 quiet: bool = False, loss: StepLoss | None = None) -> None:
        self.loss = loss
        self.network = model.to(pipeline.device)
        self.model = pipeline.fed(self.network)  # the weights in the batches' layout
        self.samples = samples
        self.pipeline = pipeline
        self.config = config
        self.validate = validate
        self.quiet = quiet
        self.sampler = self.make_sampler(np.random.default_rng([seed, 0]))
        self.augment_rng = np.random.default_rng([seed, 1])
        self.crop_rng = np.random.default_rng([seed, 2])
        self.optimizer = self._optimizer()
        self.amp = autocast_enabled(config.amp, pipeline.device)
        self.steps = 0

    def compute_loss(self, batch: Batch) -> torch.Tensor:
        """The loss of one batch: ``loss(model, batch)`` (a subclass may override it)."""
        if self.loss is None:
            raise NotImplementedError(f"{type(self).__name__}: give a loss or override "
                                      f"compute_loss")
        return self.loss(self.model, batch)

    @property
    def iterations_per_epoch(self) -> int:
        if self.config.iterations_per_epoch > 0:
            return self.config.iterations_per_epoch
        if self.config.identity_epochs and isinstance(self.sampler, IdentityBatches):
            return max(1, len(self.sampler.identities) // self.sampler.p)
        if not self.config.drop_last:
            return max(1, -(-len(self.samples) // self.sampler.batch_size))
        return max(1, len(self.samples) // self.sampler.batch_size)

    def train_step(self, batch: Batch) -> torch.Tensor:
        """One optimisation step; returns the detached loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.pipeline.device.type, dtype=torch.bfloat16,
                            enabled=self.amp):
            loss = self.compute_loss(batch)
        loss.backward()
        self.optimizer.step()
        self.steps += 1
        return loss.detach()

    def train_epoch(self) -> float:
        """One epoch of training steps; returns the mean loss."""
        self.network.train()
        total = torch.zeros((), device=self.pipeline.device)
        count = self.iterations_per_epoch
        pin = self.pipeline.device.type == "cuda"
        read = functools.partial(self.pipeline.read, augmentation=self.config.augmentation,
                                 rng=self.crop_rng)
        for host in prefetched(self.samples, self.sampler.batches(count), pin=pin, read=read):
            batch = self.pipeline.train_batch(host, self.config.augmentation, self.augment_rng)
            total += self.train_step(batch).float()
        return float(total) / count

    def fit(self) -> TrainResult:
        """Train; with a validator, restore the weights of the best-scoring epoch.

        Runs with the TF32 switches of ``config`` (:func:`float32_precision`)."""
        with float32_precision(self.config.amp, self.config.tf32):
            return self._fit()

    def _fit(self) -> TrainResult:
        cfg = self.config
        result = TrainResult()
        best_state: dict[str, torch.Tensor] | None = None
        stale = 0
        bar = tqdm(range(cfg.epochs), desc=type(self).__name__, disable=self.quiet,
                   leave=False)
        for epoch in bar:
            lr = self._set_lr(epoch)
            loss = self.train_epoch()
            record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss, "lr": lr}
            result.epochs_run = epoch + 1
            if self.validate is not None and cfg.validates_after(epoch + 1):
                score = float(self.validate(self.network))
                record["val"] = score
                if result.best_score is None or score > result.best_score:
                    result.best_score, result.best_epoch = score, epoch + 1
                    best_state = {k: v.detach().clone()
                                  for k, v in self.network.state_dict().items()}
                    stale = 0
                else:
                    stale += 1
            result.history.append(record)
            bar.set_postfix({k: round(v, 4) for k, v in record.items() if k != "epoch"})
            if cfg.patience and stale >= cfg.patience:
                result.stopped_early = True
                break
        if best_state is not None:
            self.network.load_state_dict(best_state)
        else:
            result.best_epoch = result.epochs_run
        result.steps = self.steps
        return result

    def make_sampler(self, rng: np.random.Generator) -> Sampler:
        """The batch sampler of ``config`` (a step that needs other batches overrides it:
        anything with ``batches(count)`` and ``batch_size``), drawing from ``rng``."""
        cfg, labels, modalities = self.config, self.samples.labels, self.samples.modalities
        if cfg.sampler == "identity":
            return IdentityBatches(labels, cfg.p, cfg.k, rng, cover=cfg.identity_epochs)
        if cfg.sampler == "paired":
            return PairedIdentityBatches(labels, modalities, cfg.p, cfg.k, rng,
                                         cover=cfg.identity_epochs)
        if cfg.sampler == "alternating":
            return AlternatingBatches(labels, modalities, cfg.batch_size, rng,
                                      drop_last=cfg.drop_last)
        return RandomBatches(len(self.samples), self.config.batch_size, rng,
                             drop_last=self.config.drop_last)

    def _optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        backbone = getattr(self.network, "backbone", None)
        base = {id(p) for p in backbone.parameters()} if backbone is not None else set()
        groups = [
            {"params": [p for p in self.network.parameters() if id(p) in base],
             "lr_mult": cfg.backbone_lr_mult},
            {"params": [p for p in self.network.parameters() if id(p) not in base],
             "lr_mult": 1.0},
        ]
        groups = [g for g in groups if g["params"]]
        if cfg.optimizer == "adam":
            return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                    fused=True)
        sgd = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                              weight_decay=cfg.weight_decay, nesterov=True, fused=True)
        zero_momentum(sgd)
        return sgd

    def learning_rate(self, epoch: int) -> float:
        """The base rate of 0-based ``epoch``: ``lr`` times ``lr_gamma`` every ``lr_step``
        epochs (a step with another schedule overrides it)."""
        cfg = self.config
        return cfg.lr * (cfg.lr_gamma ** (epoch // cfg.lr_step) if cfg.lr_step > 0 else 1.0)

    def _set_lr(self, epoch: int) -> float:
        lr = self.learning_rate(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group["lr_mult"]
        return lr


def zero_momentum(sgd: torch.optim.SGD) -> None:
    """Start every trainable parameter of ``sgd`` with a zero momentum buffer.

    Torch's first step sets the buffer to the gradient, which ``momentum * 0 + grad``
    gives bit for bit (no dampening), so nothing changes for a network whose parameters
    all get gradients; a network with parts that get none in some steps (a trunk per
    modality, batches of one modality) needs it, as the fused step cannot mix
    parameters with and without a buffer. A parameter without a gradient is skipped
    either way, as in every torch version."""
    for group in sgd.param_groups:
        for parameter in group["params"]:
            if parameter.requires_grad:
                sgd.state[parameter]["momentum_buffer"] = torch.zeros_like(parameter)


class SoftmaxEngine(Engine):
    """Identity classification: cross-entropy of the softmax head's logits."""

    def compute_loss(self, batch: Batch) -> torch.Tensor:
        _, logits = self.model(batch.inputs)
        return F.cross_entropy(logits.float(), batch.labels)


class TripletEngine(Engine):
    """Batch-hard triplet loss on the embeddings (use the ``"identity"`` sampler)."""

    def __init__(self, *args: Any, margin: float = 0.5, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.margin = margin

    def compute_loss(self, batch: Batch) -> torch.Tensor:
        embedding, _ = self.model(batch.inputs)
        return batch_hard_triplet_loss(embedding, batch.labels, self.margin)


def checkpoint_bytes(model: nn.Module) -> int:
    """The size of ``model``'s checkpoint, estimated as its state's tensor bytes plus
    64 KiB of archive overhead: checked against the free space before training."""
    return sum(v.nelement() * v.element_size() for v in model.state_dict().values()) \
        + 64 * 1024


def require_checkpoint_space(path: Path, model: nn.Module) -> None:
    """Fail before training when ``model``'s checkpoint would not fit beside ``path``."""
    require_space(Path(path).parent, checkpoint_bytes(model), f"the trained network {path}")


def save_checkpoint(path: Path, model: nn.Module, meta: dict[str, Any]) -> None:
    """Write ``model``'s weights and ``meta`` atomically (temporary file, then rename);
    a full disk is one :class:`~methods.core.atomic.OutOfSpace` line naming the folder."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(Path(path), checkpoint_bytes(model)) as temporary:
        torch.save({"state_dict": state, "meta": json.loads(json.dumps(meta, default=str))},
                   temporary)


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The weights and metadata :func:`save_checkpoint` wrote."""
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    return checkpoint["state_dict"], checkpoint["meta"]

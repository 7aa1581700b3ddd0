"""Building blocks of distillation students: freeze point, partly frozen copy, loss.

A student network G starts as a copy of a teacher F (:class:`StudentNetwork`). Everything
from a *freeze point* (a module name) onwards, in forward order, up to and including the
embedding head is frozen; the lower part learns, e.g. to map target-modality images to
F's embedding of the paired source-modality image (:func:`distillation_loss`).

Forward order is the modules' registration order: torchvision's ResNet registers its
modules in the order ``forward`` runs them, with a block's ``downsample`` shortcut
after its main branch (the shortcut is added to the main branch's output, so it counts
as after the block's last convolution), and :class:`~methods.deep.networks.ReidNetwork`
registers the trunk before the head.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from methods.core.errors import ConfigError
from methods.deep.backbones.families import build_backbone, freeze_point
from methods.deep.networks import ReidNetwork

DISTILLATION_REDUCTIONS = ("sum", "mean", "per-sample")
STAGE = re.compile(r"^layer[1-4]$")


def resolve_freeze_point(network: nn.Module, freeze_from: str) -> str:
    """The full module name in ``network`` (a :class:`ReidNetwork`) ``freeze_from`` names.

    Accepts a stage shorthand (see :func:`~methods.deep.backbones.families.freeze_point`), a
    trunk module name (``"layer3.0.conv3"``) or a full name (``"backbone.layer3.0.conv3"``,
    ``"head.feat"``).
    """
    modules = dict(network.named_modules())
    if STAGE.match(freeze_from):
        return "backbone." + freeze_point(network.backbone.arch, freeze_from)
    for name in (freeze_from, "backbone." + freeze_from):
        if name and name in modules:
            return name
    raise ConfigError(f"distillation option freeze_from: no module {freeze_from!r} in the "
                      f"network; use 'layer1'..'layer4' or a module name such as "
                      f"'layer3.0.conv3' (ResNet-50) or 'layer3.0.conv2' (ResNet-18)")


def check_freeze_point(arch: str, freeze_from: str) -> None:
    """Raise :class:`ConfigError` unless ``freeze_from`` can name a module of ``arch``."""
    if STAGE.match(freeze_from) or freeze_from == "head" or freeze_from.startswith("head."):
        return
    with torch.device("meta"):
        backbone = build_backbone(arch)
    names = {name for name, _ in backbone.named_modules() if name}
    if freeze_from.removeprefix("backbone.") not in names:
        raise ConfigError(f"distillation option freeze_from: {arch} has no module "
                          f"{freeze_from!r}; use 'layer1'..'layer4' or a module name such "
                          f"as {freeze_point(arch, 'layer3')!r}")


def frozen_modules(network: nn.Module, module: str) -> list[str]:
    """Names of the leaf modules from ``module`` (inclusive) onwards, in forward order."""
    leaves = [name for name, m in network.named_modules() if not list(m.children())]
    start = next((i for i, name in enumerate(leaves)
                  if name == module or name.startswith(module + ".")), None)
    if start is None:
        raise ConfigError(f"module {module!r} holds no layer")
    return leaves[start:]


class StudentNetwork(ReidNetwork):
    """The step-II network G: a :class:`ReidNetwork` whose upper part is frozen.

    Parameters of the modules named in ``frozen`` never get gradients. With
    ``fixed_bn`` those modules also stay in eval mode when the network is put in train
    mode, so their BatchNorm running statistics and dropout are fixed too; otherwise
    they follow the network's mode (the authors' code: statistics keep adapting).
    The state dict has :class:`ReidNetwork`'s keys.

    ``dropout`` > 0 is the authors' G, built with dropout 0.5 and in train mode while it
    learns (``transfer-reid/transfer-reid.py:57,80``, ``retrainer.py:66-71``): open-reid's
    ResNet applies it after the embedding layer's ReLU
    (``open-reid/reid/models/resnet.py:84-85``), so for a softmax F it drops entries of
    the regressed 128-d embedding and for a triplet F entries of the 1024-d hidden layer
    before the last linear layer. Active in train mode only, and not with ``fixed_bn``
    (the head is frozen and fixed then).

    The trunk stages F kept fixed (its ``train_from``) stay fixed in G (and G is fed
    from the store of their outputs F was fed from, :meth:`ReidNetwork.from_stage`): G's
    learnable part lies between them and the freeze point.
    """

    def __init__(self, teacher: ReidNetwork, frozen: Iterable[str], fixed_bn: bool,
                 dropout: float = 0.0) -> None:
        clone = copy.deepcopy(teacher)
        super().__init__(clone.backbone, clone.head)
        self.frozen = list(frozen)
        self.fixed_bn = fixed_bn
        self.dropout = dropout
        for parameter in self.parameters():
            parameter.requires_grad_(True)
        modules = dict(self.named_modules())
        for name in self.frozen:
            for parameter in modules[name].parameters(recurse=False):
                parameter.requires_grad_(False)
        if fixed_bn:
            self.eval_only = list(self.frozen)
        self.fix_stages_before(teacher.fixed_before)

    def forward_pooled(self, features: torch.Tensor, *args: Any
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if not (self.training and self.dropout > 0 and not self.fixed_bn):
            return super().forward_pooled(features, *args)
        return self.head.dropped_embedding(features, self.dropout), None

    def trainable_names(self) -> list[str]:
        """Names of the parameters step II trains."""
        return [name for name, p in self.named_parameters() if p.requires_grad]


def distillation_loss(embedding: torch.Tensor, target: torch.Tensor, reduction: str
                      ) -> torch.Tensor:
    """Squared error between G's (b, d) embeddings and F's targets.

    ``"sum"``: summed over batch and dimensions (the authors' ``MSELoss(size_average=
    False)``); ``"mean"``: averaged over the b*d elements (torch's ``MSELoss()``);
    ``"per-sample"``: squared Euclidean distance averaged over the batch (the paper's
    Eq. 3).
    """
    squared = (embedding.float() - target.float()).pow(2)
    if reduction == "sum":
        return squared.sum()
    if reduction == "mean":
        return squared.mean()
    if reduction == "per-sample":
        return squared.sum(1).mean()
    raise ConfigError(f"unknown loss reduction {reduction!r}; expected one of "
                      f"{DISTILLATION_REDUCTIONS}")


def reduction_scale(reduction: str, batch_size: int, embedding_dim: int) -> int:
    """The factor c by which ``reduction`` divides the summed loss (and its gradients)."""
    return {"sum": 1, "mean": batch_size * embedding_dim, "per-sample": batch_size}[reduction]


def equivalent_settings(lr: float, weight_decay: float, reduction: str, batch_size: int,
                        embedding_dim: int) -> tuple[float, float]:
    """Learning rate and weight decay that make ``reduction`` train as ``"sum"`` with
    ``lr`` and ``weight_decay`` (SGD, any momentum, Nesterov or not): ``(lr*c, wd/c)``.

    With c from :func:`reduction_scale`, the gradient is g/c; coupled weight decay makes
    the step direction g/c + (wd/c)*w = (g + wd*w)/c, so the momentum buffer is 1/c of
    the summed setting's at every step and the update lr*c times it is identical.
    """
    c = reduction_scale(reduction, batch_size, embedding_dim)
    return lr * c, weight_decay / c

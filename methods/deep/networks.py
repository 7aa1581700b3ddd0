"""Re-id networks: a backbone trunk, global average pooling and a 128-d head.

The heads follow the authors' open-reid models:

- softmax: pooled features -> Linear(128) -> BN -> ReLU -> dropout 0.5 -> classifier.
  At test time (their ``num_classes = 0``) the embedding is ReLU(BN(Linear(x))), the
  128-d layer after BN and ReLU; dropout is inactive in eval mode.
- triplet: pooled features -> Linear(1024) -> BN -> ReLU -> Linear(128), no L2
  normalisation; the output is the embedding.

Heads are registered by name (:func:`register_head`, or an entry point of the group
``rgbd_bench.heads``): a head builder takes the trunk's pooled width, the class count,
the embedding size and the dropout and returns the module that follows the trunk.

The trunk is a :class:`~methods.deep.backbones.interface.Backbone`
(:mod:`methods.deep.backbones.families`: torchvision ResNets with torchvision's module
names, ``backbone.layer3.0.conv3`` ..., or EfficientNet-Lite0), so later steps can freeze
or replace parts of it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from methods.core.errors import ConfigError
from methods.core.named_registry import Registry
from methods.deep.backbones.families import build_backbone, pretrained_state_dict
from methods.deep.backbones.interface import ENTRY_POINTS, STAGES, Backbone

# (pooled width, class count, embedding size, dropout) -> the module after the trunk,
# whose forward gives (embedding, logits or None).
HeadBuilder = Callable[[int, int, int, float], nn.Module]


def _check_builder(name: str, item: object) -> None:
    if not callable(item):
        raise TypeError(f"head {name!r} must be a callable building a module, got {item!r}")


HEAD_BUILDERS: Registry[HeadBuilder] = Registry("head", "rgbd_bench.heads",
                                                accept=_check_builder)


def register_head(name: str) -> Callable[[HeadBuilder], HeadBuilder]:
    """Decorator: make a head builder (see :data:`HeadBuilder`) available as head
    ``name`` of :func:`build_network`."""
    return HEAD_BUILDERS.register(name)


def init_head(first: nn.Linear, last: nn.Linear) -> None:
    """open-reid's initialisation of a head's two linear layers: Kaiming (fan-out) for the
    first, N(0, 0.001) for the last, zero biases (``open-reid/reid/models/resnet.py``)."""
    nn.init.kaiming_normal_(first.weight, mode="fan_out")
    nn.init.zeros_(first.bias)
    nn.init.normal_(last.weight, std=0.001)
    nn.init.zeros_(last.bias)


class SoftmaxHead(nn.Module):
    """Linear -> BN -> ReLU (the embedding) -> dropout -> identity classifier."""

    def __init__(self, in_features: int, num_classes: int, embedding_dim: int = 128,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.feat = nn.Linear(in_features, embedding_dim)
        self.feat_bn = nn.BatchNorm1d(embedding_dim)
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, num_classes)
        init_head(self.feat, self.classifier)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = torch.relu(self.feat_bn(self.feat(x)))
        return embedding, self.classifier(self.drop(embedding))

    def dropped_embedding(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """The embedding with dropout ``p`` applied to it (where open-reid's ResNet puts
        dropout when its classifier is off)."""
        return nn.functional.dropout(torch.relu(self.feat_bn(self.feat(x))), p, training=True)


class TripletHead(nn.Module):
    """Linear(hidden) -> BN -> ReLU -> Linear(embedding); the output is the embedding."""

    def __init__(self, in_features: int, embedding_dim: int = 128, hidden: int = 1024) -> None:
        super().__init__()
        self.feat = nn.Linear(in_features, hidden)
        self.feat_bn = nn.BatchNorm1d(hidden)
        self.embedding = nn.Linear(hidden, embedding_dim)
        init_head(self.feat, self.embedding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.embedding(torch.relu(self.feat_bn(self.feat(x)))), None

    def dropped_embedding(self, x: torch.Tensor, p: float) -> torch.Tensor:
        """The embedding with dropout ``p`` on the hidden layer before the last linear
        layer (where open-reid's ResNet puts dropout when its classifier is that layer)."""
        hidden = torch.relu(self.feat_bn(self.feat(x)))
        return self.embedding(nn.functional.dropout(hidden, p, training=True))


@register_head("softmax")
def softmax_head(in_features: int, num_classes: int, embedding_dim: int, dropout: float
                 ) -> SoftmaxHead:
    """open-reid's softmax head; it needs the identity count."""
    if num_classes < 1:
        raise ValueError("a softmax head needs num_classes >= 1")
    return SoftmaxHead(in_features, num_classes, embedding_dim, dropout)


@register_head("triplet")
def triplet_head(in_features: int, num_classes: int, embedding_dim: int, dropout: float
                 ) -> TripletHead:
    """open-reid's triplet head (no classifier, no dropout)."""
    return TripletHead(in_features, embedding_dim)


# open-reid's heads, built in (plugins' are in ``HEAD_BUILDERS.names()``).
HEADS = ("softmax", "triplet")


class ReidNetwork(nn.Module):
    """Trunk -> global average pooling -> head; ``forward`` gives (embedding, logits|None)."""

    def __init__(self, backbone: Backbone, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.eval_only: list[str] = []
        self.fixed_before = "stem"

    def fix_stages_before(self, stage: str) -> None:
        """Fix the trunk's stages before ``stage``: no gradients, and eval mode whatever
        mode the network is put in (BatchNorm statistics and dropout fixed). ``"stem"``
        fixes nothing, ``"head"`` the whole trunk."""
        if stage not in ENTRY_POINTS:
            raise ConfigError(f"stage {stage!r}: expected one of {ENTRY_POINTS}")
        self.fixed_before = stage
        for name, module in self._fixed_parts():
            module.requires_grad_(False)
            if f"backbone.{name}" not in self.eval_only:
                self.eval_only.append(f"backbone.{name}")
        self.train(self.training)

    def fixed_modules(self) -> list[nn.Module]:
        """The trunk modules :meth:`fix_stages_before` fixed, in forward order."""
        return [module for _, module in self._fixed_parts()]

    def _fixed_parts(self) -> list[tuple[str, nn.Module]]:
        stages = STAGES[:ENTRY_POINTS.index(self.fixed_before)]
        return [part for stage in stages for part in self.backbone.stage_modules(stage)]

    def train(self, mode: bool = True) -> ReidNetwork:
        """Set the mode; the modules named in ``eval_only`` stay in eval mode."""
        super().train(mode)
        for name in self.eval_only:
            self.get_submodule(name).eval()
        return self

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(b, feature_dim) globally average-pooled trunk features of images."""
        return self.backbone(x)

    def forward_pooled(self, features: torch.Tensor, *args: Any
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The outputs from pooled trunk ``features``: what follows the trunk. A network
        with another head overrides this (its extra ``args`` come after the input)."""
        return self.head(features, *args)

    def forward(self, x: torch.Tensor, *args: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.forward_pooled(self.pooled(x), *args)

    def from_stage(self, entry: str) -> nn.Module:
        """This network run from trunk stage ``entry`` on (one of
        :data:`~methods.deep.backbones.interface.ENTRY_POINTS`): a module taking the output of
        the stages before ``entry`` (pooled features for ``"head"``), sharing this network's
        parameters; the network itself for ``"stem"``."""
        if entry not in ENTRY_POINTS:
            raise ConfigError(f"stage {entry!r}: expected one of {ENTRY_POINTS}")
        return self if entry == "stem" else StageView(self, entry)


class StageView(nn.Module):
    """A :class:`ReidNetwork` run from a trunk stage on, without changing the network.

    The view registers the network's own children (trunk and head) as its children, so
    it has the network's parameters, in the same order, and the same state dict keys: an
    engine can train, select and restore weights through it. ``train``/``eval`` set the
    network's mode (with its :attr:`~ReidNetwork.eval_only` modules). ``forward`` runs
    ``backbone.forward_from(x, entry)``, then the network's
    :meth:`~ReidNetwork.forward_pooled`.
    """

    def __init__(self, network: ReidNetwork, entry: str) -> None:
        if type(network).forward is not ReidNetwork.forward:
            raise TypeError(f"{type(network).__name__} overrides forward; a network fed "
                            f"from a trunk stage overrides forward_pooled instead")
        super().__init__()
        for name, child in network.named_children():
            self.add_module(name, child)
        for name, parameter in network.named_parameters(recurse=False):
            self.register_parameter(name, parameter)
        for name, buffer in network.named_buffers(recurse=False):
            self.register_buffer(name, buffer)
        self.entry = entry
        self.__dict__["network"] = network  # not a child: its children are ours
        self.training = network.training

    def train(self, mode: bool = True) -> StageView:
        self.network.train(mode)
        self.training = mode
        return self

    def forward(self, x: torch.Tensor, *args: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.network.forward_pooled(self.backbone.forward_from(x, self.entry), *args)


def build_network(arch: str, head: str, num_classes: int = 0, embedding_dim: int = 128,
                  dropout: float = 0.5, in_channels: int = 3, pretrained: str = "none"
                  ) -> ReidNetwork:
    """A re-id network; the trunk is loaded from ``pretrained`` (see
    :func:`~methods.deep.backbones.families.pretrained_state_dict`), the head is always freshly
    initialised. ``head`` names a registered head (:func:`register_head`)."""
    make_head = HEAD_BUILDERS.get(head)
    backbone = build_backbone(arch, in_channels)
    state = pretrained_state_dict(arch, pretrained)
    if state is not None:
        source = f"ImageNet weights of {arch}" if pretrained == "imagenet" else pretrained
        backbone.load_pretrained(state, source)
    return ReidNetwork(backbone, make_head(backbone.feature_dim, num_classes, embedding_dim,
                                           dropout))

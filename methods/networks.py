"""Re-id networks: a torchvision ResNet trunk, global average pooling and a 128-d head.

The heads follow the authors' open-reid models:

- softmax: pooled features -> Linear(128) -> BN -> ReLU -> dropout 0.5 -> classifier.
  At test time (their ``num_classes = 0``) the embedding is ReLU(BN(Linear(x))), the
  128-d layer after BN and ReLU; dropout is inactive in eval mode.
- triplet: pooled features -> Linear(1024) -> BN -> ReLU -> Linear(128), no L2
  normalisation; the output is the embedding.

The trunk keeps torchvision's module names (``backbone.layer3.0.conv3`` ...), so later
steps can freeze or replace parts of it by name.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from benchmark.errors import ConfigError

ARCHS = ("resnet10", "resnet18", "resnet34", "resnet50", "resnet101")
# ResNet-10: torchvision's ResNet with one BasicBlock per stage; a CPU-sized trunk for the
# quick and smoke profiles (no ImageNet weights exist for it).
_SMALL = {"resnet10": [1, 1, 1, 1]}
HEADS = ("softmax", "triplet")


def build_backbone(arch: str, in_channels: int = 3) -> torchvision.models.ResNet:
    """A randomly initialised torchvision ResNet without its classifier (``fc`` = identity)."""
    if arch not in ARCHS:
        raise ConfigError(f"unknown architecture {arch!r}; expected one of {ARCHS}")
    if arch in _SMALL:
        backbone = torchvision.models.resnet.ResNet(torchvision.models.resnet.BasicBlock,
                                                    _SMALL[arch])
    else:
        backbone = torchvision.models.get_model(arch, weights=None)
    backbone.fc = nn.Identity()
    if in_channels != 3:
        old = backbone.conv1
        backbone.conv1 = nn.Conv2d(in_channels, old.out_channels, old.kernel_size,
                                   old.stride, old.padding, bias=False)
        nn.init.kaiming_normal_(backbone.conv1.weight, mode="fan_out", nonlinearity="relu")
    return backbone


def feature_dim(backbone: torchvision.models.ResNet) -> int:
    """Channels of the trunk's last stage (512 for ResNet18/34, 2048 for ResNet50+)."""
    last = backbone.layer4[-1]
    return (last.bn3 if hasattr(last, "bn3") else last.bn2).num_features


def pretrained_state_dict(arch: str, pretrained: str) -> dict[str, torch.Tensor] | None:
    """The weights named by ``pretrained``: ``"none"``, ``"imagenet"`` or a file path.

    ``"imagenet"`` uses torchvision's ``IMAGENET1K_V1`` weights (the original ImageNet
    ResNets; downloaded by torchvision on first use). A path names a torchvision
    state-dict file (``torch.save(model.state_dict(), path)``), optionally wrapped in
    ``{"state_dict": ...}`` and/or with DataParallel's ``module.`` prefixes.
    """
    if pretrained == "none":
        return None
    if pretrained == "imagenet":
        if arch in _SMALL:
            raise ConfigError(f"no ImageNet weights exist for {arch}; use pretrained = "
                              f"\"none\" or a state-dict file")
        weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
        return weights.get_state_dict(progress=False)
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise ConfigError(f"pretrained weights: expected 'none', 'imagenet' or a state-dict "
                          f"file, got {pretrained!r} (no such file)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_backbone_weights(backbone: torchvision.models.ResNet,
                          state: dict[str, torch.Tensor]) -> None:
    """Copy a torchvision ResNet state dict into ``backbone`` (its ``fc`` is ignored).

    A two-channel first convolution takes the red and blue filters of a three-channel
    one (the zero-padding layout puts RGB in channel 0 and depth in channel 2).
    """
    state = {k.removeprefix("backbone."): v for k, v in state.items()
             if not k.removeprefix("backbone.").startswith("fc.")}
    conv = state.get("conv1.weight")
    wanted = backbone.conv1.weight.shape[1]
    if conv is not None and conv.shape[1] == 3 and wanted == 2:
        state["conv1.weight"] = conv[:, [0, 2]].clone()
    own = backbone.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(f"pretrained weights do not fit the backbone: missing "
                          f"{missing[:5]}, unexpected {unexpected[:5]}")
    wrong = [k for k in own if own[k].shape != state[k].shape]
    if wrong:
        raise ConfigError(f"pretrained weights have other shapes for {wrong[:5]}")
    backbone.load_state_dict(state)


class SoftmaxHead(nn.Module):
    """Linear -> BN -> ReLU (the embedding) -> dropout -> identity classifier."""

    def __init__(self, in_features: int, num_classes: int, embedding_dim: int = 128,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.feat = nn.Linear(in_features, embedding_dim)
        self.feat_bn = nn.BatchNorm1d(embedding_dim)
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(embedding_dim, num_classes)
        nn.init.kaiming_normal_(self.feat.weight, mode="fan_out")
        nn.init.zeros_(self.feat.bias)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = torch.relu(self.feat_bn(self.feat(x)))
        return embedding, self.classifier(self.drop(embedding))


class TripletHead(nn.Module):
    """Linear(hidden) -> BN -> ReLU -> Linear(embedding); the output is the embedding."""

    def __init__(self, in_features: int, embedding_dim: int = 128, hidden: int = 1024) -> None:
        super().__init__()
        self.feat = nn.Linear(in_features, hidden)
        self.feat_bn = nn.BatchNorm1d(hidden)
        self.embedding = nn.Linear(hidden, embedding_dim)
        nn.init.kaiming_normal_(self.feat.weight, mode="fan_out")
        nn.init.zeros_(self.feat.bias)
        nn.init.normal_(self.embedding.weight, std=0.001)
        nn.init.zeros_(self.embedding.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.embedding(torch.relu(self.feat_bn(self.feat(x)))), None


class ReidNetwork(nn.Module):
    """Trunk -> global average pooling -> head; ``forward`` gives (embedding, logits|None)."""

    def __init__(self, backbone: torchvision.models.ResNet, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(b, feature_dim) globally average-pooled trunk features."""
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        x = b.layer4(b.layer3(b.layer2(b.layer1(x))))
        return torch.flatten(b.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.head(self.pooled(x))


def build_network(arch: str, head: str, num_classes: int = 0, embedding_dim: int = 128,
                  dropout: float = 0.5, in_channels: int = 3, pretrained: str = "none"
                  ) -> ReidNetwork:
    """A re-id network; the trunk is loaded from ``pretrained`` (see
    :func:`pretrained_state_dict`), the head is always freshly initialised."""
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}; expected one of {HEADS}")
    backbone = build_backbone(arch, in_channels)
    state = pretrained_state_dict(arch, pretrained)
    if state is not None:
        load_backbone_weights(backbone, state)
    dim = feature_dim(backbone)
    if head == "softmax":
        if num_classes < 1:
            raise ValueError("a softmax head needs num_classes >= 1")
        return ReidNetwork(backbone, SoftmaxHead(dim, num_classes, embedding_dim, dropout))
    return ReidNetwork(backbone, TripletHead(dim, embedding_dim))

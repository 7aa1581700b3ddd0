"""The torchvision ResNet family as a :class:`~methods.deep.backbones.interface.Backbone`.

The backbone *is* a torchvision ``ResNet`` (``fc`` replaced by the identity), so module
names (``layer3.0.conv3`` ...) and state dicts are torchvision's. Stages: ``stem`` =
``conv1``, ``bn1``, ``relu``, ``maxpool`` (stride 4), ``layer1`` ... ``layer4`` (strides
4, 8, 16, 32).
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from methods.core.errors import ConfigError
from methods.deep.backbones.interface import Backbone

# ResNet-10: one BasicBlock per stage, a CPU-sized trunk for the quick and smoke
# profiles (no ImageNet weights exist for it).
RESNETS: dict[str, tuple[type[nn.Module], list[int]]] = {
    "resnet10": (BasicBlock, [1, 1, 1, 1]),
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet34": (BasicBlock, [3, 4, 6, 3]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
    "resnet101": (Bottleneck, [3, 4, 23, 3]),
}


class ResNetBackbone(Backbone, torchvision.models.ResNet):
    """A randomly initialised torchvision ResNet without its classifier."""

    STAGE_PARTS = {"stem": ("conv1", "bn1", "relu", "maxpool"), "layer1": ("layer1",),
                   "layer2": ("layer2",), "layer3": ("layer3",), "layer4": ("layer4",)}
    FIRST_CONV = "conv1"

    def __init__(self, arch: str) -> None:
        block, layers = RESNETS[arch]
        super().__init__(block, layers)
        self.fc = nn.Identity()
        self.arch = arch

    @classmethod
    def closing_conv(cls, arch: str) -> str:
        """``conv3`` of a Bottleneck (``layer3.0.conv3`` is the authors' freeze point on
        ResNet-50), ``conv2`` of a BasicBlock."""
        return "conv3" if RESNETS[arch][0] is Bottleneck else "conv2"

    @classmethod
    def imagenet_state_dict(cls, arch: str) -> dict[str, torch.Tensor]:
        """torchvision's ``IMAGENET1K_V1`` weights (downloaded by torchvision on first use)."""
        if arch == "resnet10":
            raise ConfigError(f"no ImageNet weights exist for {arch}; use pretrained = "
                              f"\"none\" or a state-dict file")
        weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
        return weights.get_state_dict(progress=False)

    @property
    def feature_dim(self) -> int:
        """512 for ResNet-10/18/34, 2048 for ResNet-50/101."""
        last = self.layer4[-1]
        return (last.bn3 if hasattr(last, "bn3") else last.bn2).num_features

    def own_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A torchvision state dict without ``fc``."""
        return {k: v for k, v in state.items() if not k.startswith("fc.")}

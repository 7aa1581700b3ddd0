"""The interface every trunk family implements: named stages, pooled features, weights.

A :class:`Backbone` is an ``nn.Module`` whose forward pass runs five named stages in
order (:data:`STAGES`: ``stem``, ``layer1`` ... ``layer4``), then global average pooling,
and returns ``(b, feature_dim)`` features. Every family registers its modules in forward
order (distillation freezes "everything from a module onwards" by registration order),
and stage ``layer<k>`` is a sequence of blocks, so "the first block of a stage" means the
same in every family. Each family also names its first convolution, which is rebuilt
for inputs with other than three channels, and maps pretrained state dicts onto its own
parameter names.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from methods.core.errors import ConfigError

STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
# Where a trunk's input can enter: a stage, or "head" (the pooled features themselves).
ENTRY_POINTS = (*STAGES, "head")
# Stages a freeze point can name by shorthand: freezing from the stem would freeze it all.
FREEZE_STAGES = STAGES[1:]


class Backbone(nn.Module):
    """Base of the trunk families; subclasses fill in the class attributes.

    Attributes:
        STAGE_PARTS: stage name -> names of the child modules making it up, in forward
            order (a ResNet's stem is four modules; other stages are one module each).
        FIRST_CONV: module name of the first convolution.
        arch: the architecture name the backbone was built for.
        avgpool: global average pooling after the last stage.
    """

    STAGE_PARTS: ClassVar[dict[str, tuple[str, ...]]]
    FIRST_CONV: ClassVar[str]
    arch: str
    avgpool: nn.Module

    @classmethod
    def closing_conv(cls, arch: str) -> str:
        """Name, inside a block, of the convolution that closes the block (its output has
        the stage's width); the freeze point of stage k is ``layer<k>.0.<this>``."""
        raise NotImplementedError

    @classmethod
    def imagenet_state_dict(cls, arch: str) -> dict[str, torch.Tensor]:
        """ImageNet weights of ``arch`` in any key layout :meth:`own_state` accepts."""
        raise NotImplementedError

    @property
    def feature_dim(self) -> int:
        """Channels of the pooled features."""
        raise NotImplementedError

    def own_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` with this family's parameter names and without a classifier."""
        raise NotImplementedError

    def stage_modules(self, stage: str) -> list[tuple[str, nn.Module]]:
        """(name, module) of the child modules that make up ``stage``."""
        return [(name, getattr(self, name)) for name in self.STAGE_PARTS[stage]]

    def stage_of(self, name: str) -> str:
        """The stage a parameter or module name (``"layer2.0.conv1.weight"``) belongs to."""
        top = name.split(".")[0]
        for stage, parts in self.STAGE_PARTS.items():
            if top in parts:
                return stage
        raise KeyError(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_from(x, "stem")

    def forward_until(self, x: torch.Tensor, entry: str) -> torch.Tensor:
        """Run the stages before ``entry`` (one of :data:`ENTRY_POINTS`) on images:
        the input that :meth:`forward_from` ``entry`` takes (pooled features for
        ``"head"``)."""
        stages = STAGES[:ENTRY_POINTS.index(entry)]
        x = self._run(x, stages)
        return torch.flatten(self.avgpool(x), 1) if entry == "head" else x

    def forward_from(self, x: torch.Tensor, entry: str) -> torch.Tensor:
        """Pooled features from the output of the stages before ``entry``:
        ``forward_from(forward_until(x, e), e) == forward(x)`` for every entry point."""
        if entry == "head":
            return x
        x = self._run(x, STAGES[ENTRY_POINTS.index(entry):])
        return torch.flatten(self.avgpool(x), 1)

    def _run(self, x: torch.Tensor, stages: tuple[str, ...]) -> torch.Tensor:
        for stage in stages:
            for part in self.STAGE_PARTS[stage]:
                x = getattr(self, part)(x)
        return x

    def adapt_input(self, in_channels: int) -> None:
        """Replace the first convolution by a freshly initialised one for ``in_channels``."""
        parent, _, leaf = self.FIRST_CONV.rpartition(".")
        owner = self.get_submodule(parent) if parent else self
        old = getattr(owner, leaf)
        new = nn.Conv2d(in_channels, old.out_channels, old.kernel_size, old.stride,
                        old.padding, bias=False)
        nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
        setattr(owner, leaf, new)

    def load_pretrained(self, state: dict[str, torch.Tensor],
                        source: str = "pretrained weights") -> None:
        """Copy ``state`` (see :meth:`own_state`) into the backbone.

        A two-channel first convolution takes the red and blue filters of a three-channel
        one (the zero-padding layout puts RGB in channel 0 and depth in channel 2).
        ``source`` names the weights in error messages.
        """
        state = self.own_state({k.removeprefix("backbone."): v for k, v in state.items()})
        key = self.FIRST_CONV + ".weight"
        conv = state.get(key)
        if conv is not None and conv.ndim == 4 and conv.shape[1] == 3 \
                and self.get_parameter(key).shape[1] == 2:
            state[key] = conv[:, [0, 2]].clone()
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ConfigError(f"{source} do not fit {self.arch}: missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}")
        wrong = [k for k in own if own[k].shape != state[k].shape]
        if wrong:
            raise ConfigError(f"{source} have other shapes than {self.arch} for {wrong[:5]}")
        self.load_state_dict(state)

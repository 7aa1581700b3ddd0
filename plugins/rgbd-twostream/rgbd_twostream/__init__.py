"""The authors' two-stream network against ``methods.api`` only: a trunk per modality,
a shared softmax head, identity cross-entropy, RGB and depth batches taking turns, one
step each; every choice and its line of their code: ``README.md``."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from methods import api

DEPTH = api.MODALITY_CODES["depth"]


class TwoStreamNetwork(api.ReidNetwork):
    """``backbone`` sees RGB, ``depth_trunk`` (a copy of it at construction) depth; the
    head (embedding, BN, ReLU, dropout, classifier) is shared. ``forward(x, codes)``
    takes images, or pooled features when both trunks are fixed (their stored outputs,
    which both trunks share: the same weights, never trained)."""

    def __init__(self, backbone: api.Backbone, head: nn.Module) -> None:
        super().__init__(backbone, head)
        self.depth_trunk = copy.deepcopy(backbone)

    def fix_stages_before(self, stage: str) -> None:
        super().fix_stages_before(stage)
        for name in [n for n in self.eval_only if n.startswith("backbone.")]:
            twin = "depth_trunk" + name.removeprefix("backbone")
            self.get_submodule(twin).requires_grad_(False)
            self.eval_only += [] if twin in self.eval_only else [twin]
        self.train(self.training)

    def from_stage(self, entry: str) -> nn.Module:
        if entry not in ("stem", "head"):
            raise api.ConfigError("twostream-softmax: stored fixed-stage outputs are one "
                                  "trunk's; with two trunks learning, set "
                                  "compute.cache_fixed_stages = false")
        return self

    def forward(self, x: torch.Tensor, codes: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if x.dim() == 2:
            return self.head(x)
        features = None
        for trunk, mine in ((self.backbone, codes != DEPTH), (self.depth_trunk, codes == DEPTH)):
            if mine.any():
                part = trunk(x[mine])
                features = part.new_empty((len(x), part.shape[1])) \
                    if features is None else features
                features[mine] = part
        return self.head(features)


@api.register("twostream-softmax")
class TwoStreamSoftmax(api.LossMethod):
    """The authors' two-stream network: a trunk per modality, shared softmax head."""

    summary = "two-stream network (authors' code): a trunk per modality, shared softmax head"
    sampler = "alternating"
    modality_input = True

    def build_network(self, num_classes: int, pretrained: str) -> api.ReidNetwork:
        network = self.options.network
        one = api.build_network(network.arch, "softmax", num_classes, network.embedding_dim,
                                self.options.softmax.dropout, pretrained=pretrained)
        return TwoStreamNetwork(one.backbone, one.head)

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor], labels: torch.Tensor,
             modalities: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs[1].float(), labels)

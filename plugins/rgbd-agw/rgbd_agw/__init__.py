"""AGW (Ye et al., TPAMI 2021) for RGB-depth re-id, against ``methods.api`` only: two
streams over a shared trunk, GeM, a BN neck, identity + WRT loss, P x K batches of both
modalities, AGW's schedule; each choice and its line of AGW's code: ``README.md``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from methods import api


@dataclass(frozen=True)
class AGWRecipe:
    """``[options.agw.recipe]``: AGW's schedule, batches and head (see the module)."""

    optimizer, lr_step, backbone_lr_mult, sampler = "sgd", 0, 0.1, "paired"  # constants
    outside_engine = ("warmup", "decay_at", "hidden", "gem")
    lr: float = 0.1
    epochs: int = 81
    p: int = 8
    k: int = 4
    warmup: int = 10
    decay_at: tuple[int, int] = (20, 50)
    hidden: int = 512
    gem: bool = True


@dataclass(frozen=True)
class AGWOptions(api.DeepOptions):
    """``[options.deep]`` plus ``[options.agw]``'s ``recipe`` section."""

    recipe: AGWRecipe = field(default_factory=AGWRecipe)


class GeneralizedMean(nn.Module):
    """(b, c, h, w) -> (b, c): (mean of x^p)^(1/p), p = 3 (``model.py:231-235``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.clamp(min=0).pow(3).flatten(2).mean(-1) + 1e-12).pow(1 / 3)[..., None, None]


class TwoStreamHead(nn.Module):
    """Modality-specific layer, shared embedding, BN neck, identity classifier."""

    def __init__(self, features: int, hidden: int, dim: int, classes: int) -> None:
        super().__init__()
        self.streams = nn.ModuleList(nn.Sequential(nn.Linear(features, hidden),
                                                   nn.BatchNorm1d(hidden), nn.ReLU())
                                     for _ in api.MODALITY_CODES)
        self.shared = nn.Linear(hidden, dim)
        self.neck = nn.BatchNorm1d(dim)
        self.neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, classes, bias=False)

    def forward(self, x: torch.Tensor, codes: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        hidden = x.new_empty((len(x), self.shared.in_features))
        for code, stream in enumerate(self.streams):
            mine = codes == code
            if mine.any():
                hidden[mine] = stream(x[mine]).to(hidden.dtype)
        feat = self.shared(hidden)
        if not self.training:
            return F.normalize(self.neck(feat), dim=1), None
        return feat, self.classifier(self.neck(feat))


class TwoStreamNetwork(api.ReidNetwork):
    """The shared trunk, then :class:`TwoStreamHead`; ``forward(x, codes)``."""

    def forward_pooled(self, features: torch.Tensor, codes: torch.Tensor | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.head(features, codes)


class AGWEngine(api.Engine):
    """Identity loss plus weighted regularised triplet; AGW's schedule."""

    def __init__(self, *args: Any, options: AGWOptions, **kwargs: Any) -> None:
        self.options = options
        super().__init__(*args, **kwargs)

    def learning_rate(self, epoch: int) -> float:
        warm, (one, two) = self.options.recipe.warmup, self.options.recipe.decay_at
        scale = (epoch + 1) / warm if epoch < warm else 0.1 ** ((epoch >= one) + (epoch >= two))
        return self.config.lr * scale

    def compute_loss(self, batch: api.Batch) -> torch.Tensor:
        feat, logits = self.model(batch.inputs, batch.modalities)
        return (F.cross_entropy(logits.float(), batch.labels)
                + api.weighted_regularized_triplet_loss(feat, batch.labels))


@api.register("agw")
class AGW(api.DeepMethod):
    """AGW: two-stream network, GeM, BN neck, identity + WRT loss (see the module)."""

    summary = "AGW (Ye et al. 2021): two streams, GeM, BN neck, identity + WRT loss"
    option_group = ("deep", "agw")
    Options = AGWOptions
    spec = api.NetworkSpec(("rgb", "depth"), "agw")
    engine = AGWEngine

    def build_network(self, num_classes: int, pretrained: str) -> api.ReidNetwork:
        network, recipe = self.options.network, self.options.recipe
        trunk = api.build_network(network.arch, "triplet", pretrained=pretrained).backbone
        if recipe.gem and network.train_from != "head":
            trunk.avgpool = GeneralizedMean()
        return TwoStreamNetwork(trunk, TwoStreamHead(trunk.feature_dim, recipe.hidden,
                                                     network.embedding_dim, num_classes))

    def train_config(self) -> api.TrainConfig:
        return self.options.engine_config(self.options.recipe)

    def engine_options(self) -> dict[str, Any]:
        return {"options": self.options}

    def forward(self, network: nn.Module, inputs: torch.Tensor, modality: str
                ) -> torch.Tensor:
        codes = torch.full((len(inputs),), api.MODALITY_CODES[modality], device=inputs.device)
        return network(inputs, codes)[0]

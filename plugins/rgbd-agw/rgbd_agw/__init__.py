"""AGW (Ye et al., TPAMI 2021) for RGB-depth re-id, against ``methods.api`` only.

Two streams (one modality-specific layer each) over a shared trunk, GeM pooling where
the trunk's pooling learns, a BN neck, identity + weighted regularised triplet loss,
P x K batches of both modalities and AGW's schedule. Each choice and the line of the
authors' code it follows: ``README.md`` beside this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods import api


@dataclass(frozen=True)
class AGWOptions(api.DeepOptions):
    """``[options.deep]`` plus ``[options.agw]``: AGW's recipe (see the module)."""

    agw_lr: float = 0.1
    agw_epochs: int = 81
    agw_warmup: int = 10
    agw_decay_at: tuple[int, int] = (20, 50)
    agw_p: int = 8
    agw_k: int = 4
    agw_hidden: int = 512
    agw_gem: bool = True


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


class PairedIdentityBatches(api.IdentityBatches):
    """P identities x K time steps, each in both modalities (rgb rows, then depth)."""

    def __init__(self, labels: np.ndarray, p: int, k: int, rng: np.random.Generator) -> None:
        self.frames = len(labels) // 2
        super().__init__(labels[:self.frames], p, k, rng)

    @property
    def batch_size(self) -> int:
        return 2 * self.p * self.k

    def _batch(self, chosen: np.ndarray) -> np.ndarray:
        rows = super()._batch(chosen)
        return np.concatenate([rows, rows + self.frames])


class AGWEngine(api.Engine):
    """Identity loss plus weighted regularised triplet; AGW's batches and schedule."""

    def __init__(self, *args: Any, options: AGWOptions, **kwargs: Any) -> None:
        self.options = options
        super().__init__(*args, **kwargs)

    def make_sampler(self, rng: np.random.Generator) -> api.IdentityBatches:
        return PairedIdentityBatches(self.samples.labels, self.options.agw_p,
                                     self.options.agw_k, rng)

    def learning_rate(self, epoch: int) -> float:
        warm, (first, second) = self.options.agw_warmup, self.options.agw_decay_at
        scale = (epoch + 1) / warm if epoch < warm else 0.1 ** ((epoch >= first) +
                                                                (epoch >= second))
        return self.config.lr * scale

    def compute_loss(self, batch: api.Batch) -> torch.Tensor:
        codes = torch.from_numpy(self.samples.modalities[batch.index]).to(batch.labels.device)
        feat, logits = self.model(batch.inputs, codes)
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
    unread_options = (*api.SOFTMAX_OPTIONS, *api.TRIPLET_OPTIONS, "epochs")

    def build_network(self, num_classes: int, pretrained: str) -> api.ReidNetwork:
        o = self.options
        trunk = api.build_network(o.arch, "triplet", pretrained=pretrained).backbone
        if o.agw_gem and o.train_from != "head":
            trunk.avgpool = GeneralizedMean()
        return TwoStreamNetwork(trunk, TwoStreamHead(trunk.feature_dim, o.agw_hidden,
                                                     o.embedding_dim, num_classes))

    def train_config(self) -> api.TrainConfig:
        o = self.options
        shared = {**api.schedule_and_selection(o), "epochs": o.agw_epochs}
        return api.engine_config(o, optimizer="sgd", lr=o.agw_lr, momentum=0.9, lr_step=0,
                                 backbone_lr_mult=0.1, batch_size=2 * o.agw_p * o.agw_k, **shared)

    def engine_options(self) -> dict[str, Any]:
        return {"options": self.options}

    def forward(self, network: nn.Module, inputs: torch.Tensor, modality: str
                ) -> torch.Tensor:
        codes = torch.full((len(inputs),), api.MODALITY_CODES[modality], device=inputs.device)
        return network(inputs, codes)[0]

"""One-stream network, identity softmax plus the cross-modality triplet loss of BDTR
(Ye, Lan, Leng and Yuen, TIFS 2020): for each anchor the hardest positive and the
hardest negative are taken from the other modality. Against ``methods.api`` only."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from methods import api


def cross_modal_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor,
                             modalities: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over anchors of ``max(0, d(a, p) - d(a, n) + margin)``, ``p`` the farthest
    sample of the anchor's identity and ``n`` the nearest of another identity, both of
    the other modality; anchors lacking either are left out."""
    dist = api.pairwise_distances(embeddings.float())
    other = modalities[:, None] != modalities[None, :]
    same = labels[:, None] == labels[None, :]
    positive, negative = other & same, other & ~same
    hardest_positive = dist.masked_fill(~positive, 0.0).amax(1)
    hardest_negative = dist.masked_fill(~negative, torch.inf).amin(1)
    valid = positive.any(1) & negative.any(1)
    if not valid.any():
        return embeddings.sum() * 0.0
    return F.relu(hardest_positive - hardest_negative + margin)[valid].mean()


@api.register("cm-triplet")
class CrossModalTriplet(api.LossMethod):
    """One-stream network; softmax plus cross-modality batch-hard triplet loss."""

    summary = "one-stream network, softmax + cross-modality triplet (BDTR, Ye et al. 2020)"
    sampler = "paired"

    @dataclass(frozen=True)
    class Hyperparameters:
        margin: float = 0.5
        weight: float = 1.0
        p: int = 8
        k: int = 4

        def __post_init__(self) -> None:
            if self.margin < 0 or self.weight < 0 or min(self.p, self.k) < 2:
                raise api.ConfigError("needs margin >= 0, weight >= 0, p >= 2, k >= 2")

    def loss(self, outputs: tuple[torch.Tensor, torch.Tensor], labels: torch.Tensor,
             modalities: torch.Tensor) -> torch.Tensor:
        embeddings, logits = outputs
        triplet = cross_modal_triplet_loss(embeddings, labels, modalities, self.hyper.margin)
        return F.cross_entropy(logits.float(), labels) + self.hyper.weight * triplet

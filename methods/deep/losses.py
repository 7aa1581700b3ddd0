"""Losses of the deep methods."""

from __future__ import annotations

import torch


def pairwise_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """(n, n) Euclidean distances, with a floor inside the root so gradients stay finite."""
    squared = embeddings.pow(2).sum(1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * embeddings @ embeddings.T
    return d2.clamp(min=1e-12).sqrt()


def batch_hard_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor,
                            margin: float = 0.5) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al., 2017) with a hard margin.

    For every anchor: the farthest sample of its identity and the closest sample of
    another identity; the loss is the mean over anchors of
    ``max(0, d(a, p) - d(a, n) + margin)``. Anchors whose identity has no other
    sample in the batch, or with no negative, are left out.
    """
    embeddings = embeddings.float()
    dist = pairwise_distances(embeddings)
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    negative = ~same
    hardest_positive = torch.where(positive, dist, torch.zeros_like(dist)).amax(1)
    hardest_negative = torch.where(negative, dist, torch.full_like(dist, torch.inf)).amin(1)
    valid = positive.any(1) & negative.any(1)
    if not valid.any():
        return embeddings.sum() * 0.0
    losses = torch.relu(hardest_positive - hardest_negative + margin)
    return losses[valid].mean()


def weighted_regularized_triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor
                                      ) -> torch.Tensor:
    """AGW's weighted regularised triplet loss (Ye et al., TPAMI 2021), no margin.

    For every anchor, the positive distance is the softmax(d)-weighted mean of its
    distances to the samples of its identity (itself included, as
    ``Cross-Modal-Re-ID-baseline/loss.py:92``) and the negative distance the
    softmax(-d)-weighted mean of its distances to the others; the loss is the mean of
    ``log(1 + exp(d_pos - d_neg))`` (``SoftMarginLoss``, ``loss.py:100-106``).
    """
    dist = pairwise_distances(embeddings.float())
    same = labels[:, None] == labels[None, :]
    d_pos = (dist * torch.softmax(dist.masked_fill(~same, -torch.inf), 1)).sum(1)
    weights = torch.softmax((-dist).masked_fill(same, -torch.inf), 1).nan_to_num(0.0)
    d_neg = (dist * weights).sum(1)
    return torch.nn.functional.softplus(d_pos - d_neg).mean()

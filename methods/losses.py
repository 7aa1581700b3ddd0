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

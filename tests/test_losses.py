"""Batch-hard triplet loss against a brute-force loop."""

import numpy as np
import torch

from methods.deep.losses import (
    batch_hard_triplet_loss,
    pairwise_distances,
    weighted_regularized_triplet_loss,
)


def brute_force(embeddings: np.ndarray, labels: np.ndarray, margin: float) -> float:
    losses = []
    for a in range(len(labels)):
        positives = [np.linalg.norm(embeddings[a] - embeddings[p])
                     for p in range(len(labels)) if p != a and labels[p] == labels[a]]
        negatives = [np.linalg.norm(embeddings[a] - embeddings[n])
                     for n in range(len(labels)) if labels[n] != labels[a]]
        if positives and negatives:
            losses.append(max(0.0, max(positives) - min(negatives) + margin))
    return float(np.mean(losses))


def test_batch_hard_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(12, 5))
    labels = np.repeat(np.arange(4), 3)
    for margin in (0.0, 0.5, 3.0):
        got = batch_hard_triplet_loss(torch.from_numpy(embeddings), torch.from_numpy(labels),
                                      margin)
        assert abs(float(got) - brute_force(embeddings, labels, margin)) < 1e-5


def test_anchors_without_positive_are_left_out() -> None:
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(7, 4))
    labels = np.array([0, 0, 1, 1, 2, 2, 3])
    got = batch_hard_triplet_loss(torch.from_numpy(embeddings), torch.from_numpy(labels), 1.0)
    assert abs(float(got) - brute_force(embeddings, labels, 1.0)) < 1e-5


def test_gradient_is_finite_for_identical_embeddings() -> None:
    embeddings = torch.ones(4, 3, requires_grad=True)
    loss = batch_hard_triplet_loss(embeddings, torch.tensor([0, 0, 1, 1]), 0.5)
    loss.backward()
    assert float(loss.detach()) == 0.5
    assert torch.isfinite(embeddings.grad).all()


def test_pairwise_distances() -> None:
    x = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert torch.allclose(pairwise_distances(x), torch.tensor([[0.0, 5.0], [5.0, 0.0]]),
                          atol=1e-5)


def wrt_by_loop(embeddings: np.ndarray, labels: np.ndarray) -> float:
    """AGW's weighted regularised triplet loss, anchor by anchor from its definition."""
    losses = []
    for a in range(len(labels)):
        d = np.linalg.norm(embeddings - embeddings[a], axis=1)
        pos, neg = d[labels == labels[a]], d[labels != labels[a]]
        d_pos = np.sum(pos * np.exp(pos) / np.exp(pos).sum())
        d_neg = np.sum(neg * np.exp(-neg) / np.exp(-neg).sum())
        losses.append(np.log1p(np.exp(d_pos - d_neg)))
    return float(np.mean(losses))


def test_weighted_regularized_triplet_matches_its_definition() -> None:
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(10, 4))
    labels = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3, 3])
    got = weighted_regularized_triplet_loss(torch.from_numpy(embeddings),
                                            torch.from_numpy(labels))
    assert abs(float(got) - wrt_by_loop(embeddings, labels)) < 1e-5
    far = torch.tensor([[0.0, 0.0], [0.0, 0.1], [50.0, 0.0], [50.0, 0.1]])
    assert float(weighted_regularized_triplet_loss(far, torch.tensor([0, 0, 1, 1]))) < 1e-6

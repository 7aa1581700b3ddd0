"""The cross-modality triplet plugin: its loss against a brute-force reading of BDTR's
definition, its key, and a tiny training through the benchmark (trained once, then
loaded)."""

import numpy as np
import pytest
import rgbd_cmtriplet
import torch

from methods import api
from methods.api import toy_frames
from methods.core.context import TaskContext

TINY = {"network": {"arch": "resnet10", "height": 32, "width": 16},
        "selection": {"epochs": 2, "eval_every": 1, "eval_schedule": "end-of-period"},
        "compute": {"eval_batch_size": 16}, "p": 2, "k": 2}


def brute_force(x: torch.Tensor, labels: list[int], codes: list[int], margin: float) -> float:
    """For each anchor, over the other modality only: hardest positive and negative."""
    terms = []
    for a in range(len(x)):
        others = [j for j in range(len(x)) if codes[j] != codes[a]]
        pos = [float(torch.dist(x[a], x[j])) for j in others if labels[j] == labels[a]]
        neg = [float(torch.dist(x[a], x[j])) for j in others if labels[j] != labels[a]]
        if pos and neg:
            terms.append(max(0.0, max(pos) - min(neg) + margin))
    return float(np.mean(terms))


def test_loss_mines_the_other_modality_only() -> None:
    x = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))
    labels, codes = [0, 0, 1, 2, 0, 0, 1, 3], [0, 0, 0, 0, 1, 1, 1, 1]
    got = rgbd_cmtriplet.cross_modal_triplet_loss(x, torch.tensor(labels), torch.tensor(codes),
                                                  0.3)
    assert float(got) == pytest.approx(brute_force(x, labels, codes, 0.3), rel=1e-5)
    # a same-modality impostor next to anchor 0 moves the batch-hard loss, not this one
    x2, labels2, codes2 = torch.cat([x, x[:1] + 1e-3]), labels + [9], codes + [0]
    got2 = rgbd_cmtriplet.cross_modal_triplet_loss(x2, torch.tensor(labels2),
                                                   torch.tensor(codes2), 0.3)
    assert float(got2) == pytest.approx(brute_force(x2, labels2, codes2, 0.3), rel=1e-5)
    assert float(api.batch_hard_triplet_loss(x2, torch.tensor(labels2), 0.3)) != \
        pytest.approx(float(got2), rel=1e-3)


def test_trains_once_then_loads_the_same_network(tmp_path, monkeypatch) -> None:
    train, val, test = toy_frames(4, 4, 0, 1), toy_frames(2, 4, 10, 2), toy_frames(3, 2, 20, 3)
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)
    fitted = rgbd_cmtriplet.CrossModalTriplet(context, **TINY).fit(train, val)
    first = {m: fitted.embed(test.images(m), m) for m in ("rgb", "depth")}
    monkeypatch.setattr(api.Engine, "fit", lambda self: pytest.fail("trained again"))
    loaded = rgbd_cmtriplet.CrossModalTriplet(context, **TINY).fit(train, val)
    for modality, embeddings in first.items():
        assert np.isfinite(embeddings).all() and embeddings.shape == (6, 128)
        np.testing.assert_array_equal(loaded.embed(test.images(modality), modality), embeddings)


def test_its_hyperparameters_are_checked_and_keyed(tmp_path) -> None:
    train, val = toy_frames(4, 4, 0, 1), toy_frames(2, 4, 10, 2)
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)

    def key(**changed) -> str:
        return rgbd_cmtriplet.CrossModalTriplet(context, **{**TINY, **changed}).training_key(
            train, val)

    assert key() != key(margin=0.3) and key() != key(weight=0.5)
    with pytest.raises(api.ConfigError, match="margin >= 0"):
        key(margin=-1.0)

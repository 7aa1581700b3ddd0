"""The two-stream plugin: each modality through its own trunk and the shared head, the
authors' alternating batches, and a tiny training (trained once, then loaded; and over
a fixed trunk fed from the store of its outputs)."""

import numpy as np
import pytest
import rgbd_twostream
import torch

from methods import api
from methods.api import toy_frames
from methods.core.context import TaskContext

TINY = {"network": {"arch": "resnet10", "height": 32, "width": 16},
        "softmax": {"batch_size": 8},
        "selection": {"epochs": 2, "eval_every": 1, "eval_schedule": "end-of-period"},
        "compute": {"eval_batch_size": 16}}


def network() -> rgbd_twostream.TwoStreamNetwork:
    return rgbd_twostream.TwoStreamSoftmax(**TINY).build_network(5, "none")


def test_each_modality_goes_through_its_own_trunk_and_the_shared_head() -> None:
    net = network().eval()
    x = torch.randn(4, 3, 32, 16, generator=torch.Generator().manual_seed(0))
    codes = torch.tensor([0, 1, 1, 0])
    embedding, _ = net(x, codes)
    with torch.no_grad():
        net.depth_trunk.layer4[0].conv1.weight.mul_(2.0)  # the streams now differ
    changed, _ = net(x, codes)
    assert torch.equal(changed[[0, 3]], embedding[[0, 3]])  # RGB rows: the RGB trunk
    assert not torch.equal(changed[[1, 2]], embedding[[1, 2]])
    rgb_alone, _ = net(x[[0, 3]], codes[[0, 3]])
    torch.testing.assert_close(rgb_alone, changed[[0, 3]])
    assert torch.equal(net.head(net.backbone(x[:1]))[0], net(x[:1], codes[:1])[0])


def test_an_rgb_batch_trains_the_rgb_trunk_and_the_head_only() -> None:
    net = network().train()
    embedding, logits = net(torch.randn(4, 3, 32, 16), torch.zeros(4, dtype=torch.long))
    logits.sum().backward()
    assert all(p.grad is None for p in net.depth_trunk.parameters())
    assert all(p.grad is not None for p in net.backbone.parameters())
    assert net.head.feat.weight.grad is not None


def test_trains_by_alternating_batches_once_then_loads(tmp_path, monkeypatch) -> None:
    train, val, test = toy_frames(4, 4, 0, 1), toy_frames(2, 4, 10, 2), toy_frames(3, 2, 20, 3)
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)
    method = rgbd_twostream.TwoStreamSoftmax(context, **TINY)
    assert method.train_config().sampler == "alternating"
    fitted = method.fit(train, val)
    first = {m: fitted.embed(test.images(m), m) for m in ("rgb", "depth")}
    monkeypatch.setattr(api.Engine, "fit", lambda self: pytest.fail("trained again"))
    loaded = rgbd_twostream.TwoStreamSoftmax(context, **TINY).fit(train, val)
    for modality, embeddings in first.items():
        assert np.isfinite(embeddings).all() and embeddings.shape == (6, 128)
        np.testing.assert_array_equal(loaded.embed(test.images(modality), modality), embeddings)
    trunks = loaded.network.backbone, loaded.network.depth_trunk
    assert not torch.equal(trunks[0].layer4[0].conv1.weight, trunks[1].layer4[0].conv1.weight)


def test_a_fixed_trunk_fed_from_the_store_keeps_both_streams_fixed(tmp_path) -> None:
    train, val, test = toy_frames(4, 4, 0, 1), toy_frames(2, 4, 10, 2), toy_frames(3, 2, 20, 3)
    options = {**TINY, "network": {**TINY["network"], "train_from": "head"},
               "augmentation": {"crop": "none", "flip": True},
               "compute": {**TINY["compute"], "cache_fixed_stages": True}}
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)
    fitted = rgbd_twostream.TwoStreamSoftmax(context, **options).fit(train, val)
    assert list(tmp_path.rglob("chunk-*.npz"))
    net = fitted.network
    assert not any(p.requires_grad for p in net.depth_trunk.parameters())
    for mine, twin in zip(net.backbone.state_dict().values(),
                          net.depth_trunk.state_dict().values(), strict=True):
        assert torch.equal(mine, twin)
    assert np.isfinite(fitted.embed(test.images("depth"), "depth")).all()
    layer4 = {**options, "network": {**options["network"], "train_from": "layer4"}}
    with pytest.raises(api.ConfigError, match="cache_fixed_stages = false"):
        rgbd_twostream.TwoStreamSoftmax(context, **layer4).fit(train, val)

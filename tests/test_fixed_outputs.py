"""Fixed trunk stages: entry points, the content-addressed memo of their outputs, and
training from it (the same network as training from images)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import parsed
from test_deep_methods import TINY, blob_frames

from benchmark.errors import ConfigError
from benchmark.options import merge_tables
from methods.backbone import ENTRY_POINTS
from methods.backbones import build_backbone
from methods.context import TaskContext
from methods.deep import NetworkSpec, network_pipeline, pipeline_for
from methods.deep_data import InputEncoder, Pipeline, embed_images
from methods.distillation import DistillationOptions
from methods.distillation_parts import StudentNetwork, frozen_modules
from methods.fixed_outputs import FILE_NAME, FixedOutputs, FixedStagePipeline
from methods.networks import build_network
from methods.registry import get_method


@pytest.mark.parametrize("arch", ["resnet10", "efficientnet-lite0"])
def test_every_entry_point_splits_the_forward_pass(arch: str) -> None:
    torch.manual_seed(0)
    backbone = build_backbone(arch).eval()
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        whole = backbone(x)
        for entry in ENTRY_POINTS:
            split = backbone.forward_from(backbone.forward_until(x, entry), entry)
            torch.testing.assert_close(split, whole, rtol=1e-5, atol=1e-5)
    assert backbone.forward_until(x, "head").shape == whole.shape


class Doubling:
    """compute() of FixedOutputs.lookup for inputs ``x``: 2x, counting what it computed."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x, self.samples = x, 0

    def __call__(self, positions: list[int]) -> torch.Tensor:
        self.samples += len(positions)
        return 2 * self.x[positions]


def keys_of(x: torch.Tensor) -> list[bytes]:
    return [bytes(16 - len(str(v))) + str(v).encode() for v in x[:, 0].tolist()]


def test_store_computes_each_distinct_key_once(tmp_path: Path) -> None:
    memo = FixedOutputs(tmp_path)
    a = torch.arange(6.0).view(3, 2)
    torch.testing.assert_close(memo.lookup(keys_of(a), Doubling(a)), 2 * a)
    both = torch.cat([torch.full((1, 2), 9.0), a[1:2], torch.full((1, 2), 9.0)])
    doubling = Doubling(both)  # one new input, twice, and one seen before
    torch.testing.assert_close(memo.lookup(keys_of(both), doubling), 2 * both)
    assert doubling.samples == 1 and len(memo) == 4
    assert (memo.hits, memo.misses) == (2, 4)


def test_store_is_saved_and_merged(tmp_path: Path) -> None:
    first, second = FixedOutputs(tmp_path), FixedOutputs(tmp_path)
    a, b = torch.arange(4.0).view(2, 2), torch.full((1, 2), 7.0)
    first.lookup(keys_of(a), Doubling(a))
    second.lookup(keys_of(b), Doubling(b))
    first.save()
    second.save()  # merges with what `first` wrote
    both = torch.cat([a, b])
    reread, doubling = FixedOutputs(tmp_path), Doubling(both)
    torch.testing.assert_close(reread.lookup(keys_of(both), doubling), 2 * both)
    assert doubling.samples == 0


def test_unreadable_store_is_recomputed(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not an npz file")
    memo, x = FixedOutputs(tmp_path), torch.ones(1, 3)
    doubling = Doubling(x)
    memo.lookup(keys_of(x), doubling)
    memo.save()
    assert doubling.samples == 1 and len(FixedOutputs(tmp_path)) == 1


def test_pipeline_keys_tell_inputs_apart() -> None:
    backbone = build_backbone("resnet10").eval()
    base = Pipeline(InputEncoder("image", "relative"), (32, 16))
    pipeline = FixedStagePipeline(base, backbone, "layer2", FixedOutputs())
    image = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (32, 16, 3), np.uint8))
    other = image.clone()
    other[5, 5, 0] ^= 1
    depth = torch.zeros(32, 16, 3, dtype=torch.uint8)
    keys = {pipeline._key("rgb", image, False), pipeline._key("rgb", image, True),
            pipeline._key("rgb", other, False), pipeline._key("depth", depth, False),
            pipeline._key("rgb", depth, False)}
    assert len(keys) == 5
    assert pipeline._key("rgb", image, False) == pipeline._key("rgb", image.clone(), False)
    elsewhere = FixedStagePipeline(Pipeline(InputEncoder("image", "normalised"), (32, 16)),
                                   backbone, "layer2", FixedOutputs())
    assert elsewhere._key("rgb", image, False) not in keys


def test_head_entry_fixes_the_whole_trunk() -> None:
    network = build_network("resnet10", "softmax", num_classes=3)
    network.fix_stages_before("head")
    assert not any(p.requires_grad for p in network.backbone.parameters())
    assert all(p.requires_grad for p in network.head.parameters())
    network.train()
    assert not any(m.training for m in network.backbone.modules() if m is not network.backbone
                   and list(m.parameters()))


def test_cache_needs_fixed_stages_and_no_random_crops(tmp_path: Path) -> None:
    cls = get_method("one-stream")
    context = TaskContext(artifact_root=tmp_path)
    cached = {"cache_fixed_stages": True}
    with pytest.raises(ConfigError, match="train_from"):
        cls(context, compute=cached, augmentation={"crop": "none"})
    with pytest.raises(ConfigError, match="crop"):
        cls(context, compute=cached, network={"train_from": "layer3"})
    with pytest.raises(ConfigError, match="crop"):
        parsed(DistillationOptions, compute=cached, network={"train_from": "head"},
               augmentation={"crop": "none"})


@pytest.mark.parametrize("entry", ["layer3", "head"])
def test_training_from_the_memo_gives_the_same_network(tmp_path: Path, entry: str,
                                                        one_torch_thread) -> None:
    train, val = blob_frames(3, 4, 0, 1), blob_frames(2, 4, 10, 2)
    test = blob_frames(2, 3, 20, 3)
    spec = NetworkSpec(("rgb", "depth"), "softmax")
    options = merge_tables(TINY, {"network": {"arch": "resnet10", "train_from": entry},
                                  "selection": {"epochs": 2},
                                  "augmentation": {"crop": "none", "flip": True}})
    networks, methods = {}, {}
    for cached in (False, True):
        context = TaskContext(artifact_root=tmp_path / str(cached), dataset_key="blobs",
                              quiet=True)
        methods[cached] = get_method("one-stream")(
            context, **merge_tables(options, {"compute": {"cache_fixed_stages": cached}}))
        networks[cached], _ = methods[cached].train_or_load(train, val)
    opts = methods[True].options
    memo = methods[True].store
    assert methods[False].store is None and memo is not None and memo.hits > 0
    stored = list((tmp_path / "True").rglob(FILE_NAME))
    assert len(stored) == 1
    plain, cached = networks[False], networks[True]
    for (name, a), (_, b) in zip(plain.state_dict().items(), cached.state_dict().items(),
                                 strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    for modality in ("rgb", "depth"):
        images = test.images(modality)
        through_store = network_pipeline(spec, opts, cached, "cpu", evaluation=True,
                                         store=memo)
        assert isinstance(through_store, FixedStagePipeline)
        np.testing.assert_allclose(
            embed_images(cached, through_store, images, modality),
            embed_images(plain, pipeline_for(spec, opts, "cpu", evaluation=True), images,
                         modality), rtol=1e-4, atol=1e-5)


def test_student_keeps_the_teachers_fixed_stages() -> None:
    teacher = build_network("resnet10", "softmax", num_classes=3)
    teacher.fix_stages_before("layer3")
    student = StudentNetwork(teacher, frozen_modules(teacher, "head.feat_bn"), fixed_bn=False)
    trainable = {name.split(".")[1] for name in student.trainable_names()
                 if name.startswith("backbone.")}
    assert trainable == {"layer3", "layer4"}
    assert "head.feat.weight" in student.trainable_names()
    assert "head.feat_bn.weight" not in student.trainable_names()
    student.train()
    assert not student.backbone.layer2.training and student.backbone.layer3.training


def test_distillation_from_the_store_gives_the_same_student(tmp_path: Path,
                                                            one_torch_thread) -> None:
    train, val = blob_frames(3, 4, 0, 1), blob_frames(2, 4, 10, 2)
    test = blob_frames(2, 3, 20, 3)
    options = merge_tables(TINY, {
        "network": {"arch": "resnet10", "train_from": "layer4"}, "selection": {"epochs": 1},
        "augmentation": {"crop": "none"},
        "step2": {"augmentation": {"crop": "none"}, "epochs": 2, "batch_size": 8,
                  "freeze_from": "head.feat_bn", "loss_reduction": "per-sample", "lr": 0.01}})
    matchers = {}
    for cached in (False, True):
        context = TaskContext(artifact_root=tmp_path / str(cached), dataset_key="blobs",
                              quiet=True)
        cls = get_method("distill-depth2rgb-softmax")
        matchers[cached] = cls(context, **merge_tables(
            options, {"compute": {"cache_fixed_stages": cached}})).fit(train, val)
    assert matchers[False].store is None and matchers[True].store.hits > 0
    learnt = matchers[True].student.head.feat.weight
    assert not torch.allclose(learnt, matchers[True].teacher.head.feat.weight)
    for (name, a), (_, b) in zip(matchers[False].student.state_dict().items(),
                                 matchers[True].student.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    for modality in ("rgb", "depth"):
        np.testing.assert_allclose(matchers[True].embed(test.images(modality), modality),
                                   matchers[False].embed(test.images(modality), modality),
                                   rtol=1e-4, atol=1e-5)

"""Fixed trunk stages: entry points, the content-addressed memo of their outputs, and
training from it (the same network as training from images)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.errors import ConfigError
from methods.backbone import ENTRY_POINTS
from methods.backbones import build_backbone
from methods.context import TaskContext
from methods.deep import NetworkSpec, train_or_load
from methods.deep_data import embed_images
from methods.distillation import DistillationOptions
from methods.fixed_outputs import FILE_NAME, FixedOutputs, input_keys
from methods.networks import build_network
from methods.registry import get_method
from tests.test_deep_methods import TINY, blob_frames


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


class CountingStages:
    """Doubles its input and counts the samples it saw."""

    def __init__(self) -> None:
        self.samples = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.samples += len(x)
        return 2 * x


def test_memo_computes_each_distinct_input_once(tmp_path: Path) -> None:
    stages, memo = CountingStages(), FixedOutputs(tmp_path)
    a, b = torch.randn(3, 2, 4, 4), torch.randn(1, 2, 4, 4)
    torch.testing.assert_close(memo(a, stages), 2 * a)
    both = torch.cat([b, a[1:2], b])  # one new input, twice, and one seen before
    torch.testing.assert_close(memo(both, stages), 2 * both)
    assert stages.samples == 4 and len(memo) == 4
    assert (memo.hits, memo.misses) == (2, 4)


def test_keys_depend_on_values_not_memory_layout() -> None:
    x = torch.randn(2, 3, 8, 4)
    assert input_keys(x) == input_keys(x.contiguous(memory_format=torch.channels_last))
    y = x.clone()
    y[1, 2, 7, 3] += 1e-6
    keys, other = input_keys(x), input_keys(y)
    assert keys[0] == other[0] and keys[1] != other[1]


def test_memo_is_stored_and_merged(tmp_path: Path) -> None:
    first, second = FixedOutputs(tmp_path), FixedOutputs(tmp_path)
    a, b = torch.randn(2, 5), torch.randn(1, 5)
    first(a, CountingStages())
    second(b, CountingStages())
    first.save()
    second.save()  # merges with what `first` wrote
    reread, stages = FixedOutputs(tmp_path), CountingStages()
    torch.testing.assert_close(reread(torch.cat([a, b]), stages), 2 * torch.cat([a, b]))
    assert stages.samples == 0


def test_unreadable_memo_is_recomputed(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_bytes(b"not an npz file")
    memo, stages = FixedOutputs(tmp_path), CountingStages()
    memo(torch.ones(1, 3), stages)
    memo.save()
    assert stages.samples == 1 and len(FixedOutputs(tmp_path)) == 1


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
    with pytest.raises(ConfigError, match="train_from"):
        cls(context, cache_fixed_stages=True, augment="none")
    with pytest.raises(ConfigError, match="augment"):
        cls(context, cache_fixed_stages=True, train_from="layer3")
    with pytest.raises(ConfigError, match="augment"):
        DistillationOptions(cache_fixed_stages=True, train_from="head", augment="none")


@pytest.mark.parametrize("entry", ["layer3", "head"])
def test_training_from_the_memo_gives_the_same_network(tmp_path: Path, entry: str,
                                                        one_torch_thread) -> None:
    train, val = blob_frames(3, 4, 0, 1), blob_frames(2, 4, 10, 2)
    test = blob_frames(2, 3, 20, 3)
    spec = NetworkSpec(("rgb", "depth"), "softmax")
    options = {**TINY, "arch": "resnet10", "epochs": 2, "train_from": entry,
               "augment": "none", "flip": True}
    networks = {}
    for cached in (False, True):
        context = TaskContext(artifact_root=tmp_path / str(cached), dataset_key="blobs",
                              quiet=True)
        opts = get_method("one-stream").Options(**options, cache_fixed_stages=cached)
        networks[cached], _ = train_or_load(spec, opts, train, val, context)
    memo = networks[True].fixed_outputs
    assert memo is not None and memo.hits > 0
    stored = list((tmp_path / "True").rglob(FILE_NAME))
    assert len(stored) == 1
    plain, cached = networks[False], networks[True]
    for (name, a), (_, b) in zip(plain.state_dict().items(), cached.state_dict().items(),
                                 strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    from methods.deep import pipeline_for

    for modality in ("rgb", "depth"):
        pipeline = pipeline_for(spec, opts, "cpu", evaluation=True)
        images = test.images(modality)
        np.testing.assert_allclose(embed_images(cached, pipeline, images, modality),
                                   embed_images(plain, pipeline, images, modality),
                                   rtol=1e-4, atol=1e-5)

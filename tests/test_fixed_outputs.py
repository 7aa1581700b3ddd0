"""Fixed trunk stages: entry points, the content-addressed store of their outputs, and
training from it (the same network as training from images)."""

import copy
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import parsed
from test_deep_methods import TINY, blob_frames

from methods.core.context import TaskContext, TaskInput
from methods.core.errors import ConfigError
from methods.core.feature_store import FeatureStore
from methods.core.options import merge_tables, take_declared
from methods.core.registry import get_method
from methods.deep.backbones.families import build_backbone
from methods.deep.backbones.interface import ENTRY_POINTS
from methods.deep.baselines import NetworkSpec, fixed_stage_store, network_pipeline, pipeline_for
from methods.deep.fixed_outputs import FixedStagePipeline, shared_store
from methods.deep.inputs import InputEncoder, Pipeline, embed_images
from methods.deep.networks import build_network
from methods.distillation import DistillationOptions
from methods.teacher_student.distillation_parts import StudentNetwork, frozen_modules


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
    """compute() of FeatureStore.lookup for inputs ``x``: 2x, counting what it computed."""

    def __init__(self, x: torch.Tensor) -> None:
        self.x, self.samples = x, 0

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        self.samples += len(positions)
        return 2 * self.x[positions.tolist()].numpy()


def keys_of(x: torch.Tensor) -> list[str]:
    return [f"{v:040.1f}" for v in x[:, 0].tolist()]


def chunks_in(folder: Path) -> list[Path]:
    return sorted(folder.rglob("chunk-*.npz"))


def test_store_computes_each_distinct_key_once(tmp_path: Path) -> None:
    store = FeatureStore(tmp_path, in_memory=True)
    a = torch.arange(6.0).view(3, 2)
    np.testing.assert_array_equal(store.lookup(keys_of(a), Doubling(a)), 2 * a.numpy())
    both = torch.cat([torch.full((1, 2), 9.0), a[1:2], torch.full((1, 2), 9.0)])
    doubling = Doubling(both)  # one new input, twice, and one seen before
    np.testing.assert_array_equal(store.lookup(keys_of(both), doubling), 2 * both.numpy())
    assert doubling.samples == 1 and len(store) == 4
    assert (store.hits, store.misses) == (2, 4)
    assert len(chunks_in(tmp_path)) == 2  # written as computed, no save() to call


def test_a_second_store_reads_back_what_others_wrote(tmp_path: Path) -> None:
    first, second = FeatureStore(tmp_path, in_memory=True), FeatureStore(tmp_path, True)
    a, b = torch.arange(4.0).view(2, 2), torch.full((1, 2), 7.0)
    first.lookup(keys_of(a), Doubling(a))
    second.lookup(keys_of(b), Doubling(b))  # concurrent writers: one chunk each
    both = torch.cat([a, b])
    for in_memory in (True, False):
        reread, doubling = FeatureStore(tmp_path, in_memory), Doubling(both)
        np.testing.assert_array_equal(reread.lookup(keys_of(both), doubling), 2 * both.numpy())
        assert doubling.samples == 0 and reread.misses == 0
    doubling = Doubling(both)
    first.lookup(keys_of(both), doubling)  # picks up `second`'s chunk on a miss
    assert doubling.samples == 0


def test_values_keep_their_shape_and_float32(tmp_path: Path) -> None:
    x = torch.randn(3, 2, 4, 5, dtype=torch.float64)
    store = FeatureStore(tmp_path, in_memory=True)
    computed = store.lookup(keys_of(x[:, 0, 0]), Doubling(x))
    read = FeatureStore(tmp_path).lookup(keys_of(x[:, 0, 0]), Doubling(x))
    assert computed.dtype == read.dtype == np.float32 and read.shape == (3, 2, 4, 5)
    np.testing.assert_array_equal(read, (2 * x).float().numpy())
    np.testing.assert_array_equal(computed, read)


@pytest.mark.parametrize("in_memory", [True, False])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_chunk_is_ignored_and_recomputed(tmp_path: Path, damage: str,
                                                   in_memory: bool) -> None:
    x = torch.arange(6.0).view(3, 2)
    FeatureStore(tmp_path, in_memory=True).lookup(keys_of(x), Doubling(x))
    (chunk,) = chunks_in(tmp_path)
    data = chunk.read_bytes()
    chunk.write_bytes(data[:len(data) // 2] if damage == "truncated" else b"not an npz")
    store, doubling = FeatureStore(tmp_path, in_memory), Doubling(x)
    np.testing.assert_array_equal(store.lookup(keys_of(x), doubling), 2 * x.numpy())
    assert doubling.samples == 3
    assert len(chunks_in(tmp_path)) == 2  # the damaged one, left as it is, and a new one
    reread = FeatureStore(tmp_path, in_memory)
    np.testing.assert_array_equal(reread.lookup(keys_of(x), Doubling(x)), 2 * x.numpy())
    assert reread.misses == 0


def test_pipeline_keys_tell_inputs_apart(tmp_path: Path) -> None:
    backbone = build_backbone("resnet10").eval()
    base = Pipeline(InputEncoder("image", "relative"), (32, 16))
    pipeline = FixedStagePipeline(base, backbone, "layer2", FeatureStore(tmp_path))
    image = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (32, 16, 3), np.uint8))
    other = image.clone()
    other[5, 5, 0] ^= 1
    depth = torch.zeros(32, 16, 3, dtype=torch.uint8)

    def key(modality: str, x: torch.Tensor, flip: bool, through=pipeline) -> str:
        return str(through.keys(x[None], modality, np.array([flip]))[0])

    keys = {key("rgb", image, False), key("rgb", image, True), key("rgb", other, False),
            key("depth", depth, False), key("rgb", depth, False)}
    assert len(keys) == 5
    assert key("rgb", image, False) == key("rgb", image.clone(), False)
    mixed = pipeline.keys(torch.stack([image, image]), "rgb", np.array([True, False]))
    assert list(mixed) == [key("rgb", image, True), key("rgb", image, False)]
    elsewhere = FixedStagePipeline(Pipeline(InputEncoder("image", "normalised"), (32, 16)),
                                   backbone, "layer2", FeatureStore(tmp_path))
    assert key("rgb", image, False, elsewhere) not in keys


def test_a_stage_view_runs_the_network_without_changing_it() -> None:
    torch.manual_seed(0)
    network = build_network("resnet10", "softmax", num_classes=3).eval()
    network.fix_stages_before("layer3")
    x = torch.randn(2, 3, 64, 32)
    view = network.from_stage("layer3")
    assert network.from_stage("stem") is network and not hasattr(network, "entry")
    assert list(view.state_dict()) == list(network.state_dict())
    assert all(a is b for a, b in zip(view.parameters(), network.parameters(), strict=True))
    with torch.no_grad():
        whole = network(x)[0]
        split = view(network.backbone.forward_until(x, "layer3"))[0]
        torch.testing.assert_close(split, whole, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(network(x)[0], whole, rtol=0, atol=0)  # still on images
    view.train()
    assert network.training and network.backbone.layer3.training
    assert not network.backbone.layer2.training  # fixed stages stay in eval mode
    copied = copy.deepcopy(view)
    assert copied.network is not network and copied.backbone is copied.network.backbone
    with pytest.raises(ConfigError, match="stage"):
        network.from_stage("layer9")


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
        parsed(DistillationOptions, compute=cached, network={"train_from": "head"})


@pytest.mark.parametrize("entry", ["layer3", "head"])
def test_training_from_the_store_gives_the_same_network(tmp_path: Path, entry: str,
                                                        one_torch_thread) -> None:
    train, val = blob_frames(3, 4, 0, 1), blob_frames(2, 4, 10, 2)
    test = blob_frames(2, 3, 20, 3)
    spec = NetworkSpec(("rgb", "depth"), "softmax")
    options = merge_tables(TINY, {"network": {"arch": "resnet10", "train_from": entry},
                                  "selection": {"epochs": 2},
                                  "augmentation": {"crop": "none", "flip": True}})
    networks, methods, contexts = {}, {}, {}
    for cached in (False, True):
        contexts[cached] = TaskContext(artifact_root=tmp_path / str(cached),
                                       dataset_key="blobs", quiet=True)
        methods[cached] = get_method("one-stream").from_offered(
            contexts[cached],
            **merge_tables(options, {"compute": {"cache_fixed_stages": cached}}))
        networks[cached], _ = methods[cached].train_or_load(train, val)
    opts, context = methods[True].options, contexts[True]
    plain, cached = networks[False], networks[True]
    assert fixed_stage_store(plain, methods[False].options, contexts[False]) is None
    assert not chunks_in(tmp_path / "False")
    store = fixed_stage_store(cached, opts, context)
    assert store is shared_store(store.directory) and store.hits > 0
    assert len(FeatureStore(store.directory)) == store.misses  # all on disk, no save()
    for (name, a), (_, b) in zip(plain.state_dict().items(), cached.state_dict().items(),
                                 strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    images_in = pipeline_for(spec, opts, "cpu", evaluation=True)
    for modality in ("rgb", "depth"):
        images = test.images(modality)
        through_store = network_pipeline(spec, opts, cached, "cpu", evaluation=True,
                                         context=context)
        assert isinstance(through_store, FixedStagePipeline)
        from_store = embed_images(cached, through_store, images, modality)
        np.testing.assert_array_equal(from_store,
                                      embed_images(plain, images_in, images, modality))
        with torch.no_grad():  # no input mode left on the network: it takes images
            on_images = cached.eval()(images_in.eval_inputs(images, modality))[0].numpy()
        np.testing.assert_array_equal(on_images, from_store)
        shared_store.cache_clear()  # another process: reads back, computes nothing
        again = network_pipeline(spec, opts, cached, "cpu", evaluation=True, context=context)
        assert again.store is not through_store.store
        np.testing.assert_array_equal(embed_images(cached, again, images, modality), from_store)
        assert again.store.misses == 0 and again.store.hits == len(images)


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
        cls, step1 = get_method("distill-depth2rgb-softmax"), "resnet-depth-softmax"
        given = merge_tables(options, {"compute": {"cache_fixed_stages": cached}})
        context.inputs = {step1: TaskInput(step1, 0, take_declared(
            get_method(step1).Options, given), context.seed_of(step1))}
        matchers[cached] = cls.from_offered(context, **given).fit(train, val)
    assert not chunks_in(tmp_path / "False") and chunks_in(tmp_path / "True")
    assert not hasattr(matchers[True].student, "entry")
    learnt = matchers[True].student.head.feat.weight
    assert not torch.allclose(learnt, matchers[True].teacher.head.feat.weight)
    for (name, a), (_, b) in zip(matchers[False].student.state_dict().items(),
                                 matchers[True].student.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    for modality in ("rgb", "depth"):
        np.testing.assert_array_equal(matchers[True].embed(test.images(modality), modality),
                                      matchers[False].embed(test.images(modality), modality))


def _write_rounds(folder: Path, offset: int) -> None:
    """A task on another process (numpy only, no torch after a fork): three lookups over
    keys that overlap the other's."""
    store = FeatureStore(folder, in_memory=True)
    for start in range(3):
        x = np.repeat(np.arange(offset + 2.0 * start, offset + 2.0 * start + 4)[:, None], 2, 1)
        store.lookup([f"{v:040.1f}" for v in x[:, 0]], lambda positions, x=x: 2 * x[positions])


def test_concurrent_writers_leave_a_readable_store(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_write_rounds, args=(tmp_path, offset))
               for offset in (0, 3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    everything = torch.arange(11.0).repeat(2, 1).T  # 0..7 from one, 3..10 from the other
    reader, doubling = FeatureStore(tmp_path), Doubling(everything)
    np.testing.assert_array_equal(reader.lookup(keys_of(everything), doubling),
                                  2 * everything.numpy())
    assert doubling.samples == 0 and len(chunks_in(tmp_path)) <= 6
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith("chunk-")]

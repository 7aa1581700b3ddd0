"""Cross-modal distillation: freezing, loss, reduction equivalence, artifact reuse."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from methods.core.context import TaskContext, TaskInput, derive_seed
from methods.core.errors import ConfigError
from methods.core.frames import PairedFrames
from methods.core.matcher import CROSS_MODAL
from methods.core.registry import get_method
from methods.deep import baselines as deep
from methods.deep.augment import Augmentation
from methods.deep.baselines import NetworkSpec, pipeline_for
from methods.deep.engine import TrainConfig, load_checkpoint
from methods.deep.inputs import SampleSet, embed_images, fetch
from methods.deep.networks import build_network
from methods.deep.option_sections import DeepOptions, NetworkOptions
from methods.teacher_student import framework as teacher_student
from methods.teacher_student.distillation_parts import (
    StudentNetwork,
    distillation_loss,
    equivalent_settings,
    frozen_modules,
    resolve_freeze_point,
)
from methods.teacher_student.framework import TeacherStudentEngine
from methods.teacher_student.framework import freeze as freeze_teacher

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEP1 = {"network": {"arch": "resnet18", "height": 32, "width": 16},
         "selection": {"epochs": 1, "eval_every": 1}, "softmax": {"batch_size": 8},
         "triplet": {"p": 2, "k": 4}, "compute": {"eval_batch_size": 64}}
TINY = {**STEP1, "step2": {"epochs": 1, "batch_size": 8}}
MAIN = ("distill-depth2rgb-softmax", "distill-depth2rgb-triplet",
        "distill-rgb2depth-softmax", "distill-rgb2depth-triplet")


def frames(n_ids: int, per_id: int, first_pid: int, seed: int) -> PairedFrames:
    """32x16 crops; RGB colour and depth body width depend on the identity."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(first_pid, first_pid + n_ids), per_id)
    colours = rng.integers(0, 256, (n_ids, 3))[pids - first_pid]
    rgb = np.clip(colours[:, None, None] + rng.normal(0, 20, (len(pids), 32, 16, 3)), 0, 255)
    body = np.abs(np.arange(16)[None, None, :] - 8) < (2 + pids % 4)[:, None, None]
    depth = np.where(body, 2500 + rng.normal(0, 30, (len(pids), 32, 16)), 0)
    n = len(pids)
    return PairedFrames(pids, np.zeros(n, np.int64), np.arange(n, dtype=np.int64) + 100 * seed,
                        rgb.astype(np.uint8), depth.astype(np.uint16))


@pytest.fixture(scope="module")
def split() -> tuple[PairedFrames, PairedFrames]:
    return frames(3, 4, 0, 1), frames(2, 4, 10, 2)


def context(root: Path, seed: int = 7) -> TaskContext:
    return TaskContext(artifact_root=root, dataset_key="blobs", fold=0, seed=seed, quiet=True,
                       run_seed=3)


def teacher_network(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    network = build_network("resnet18", "softmax", num_classes=3)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
    return freeze_teacher(network)


def engine_for(student, train, teacher, reduction="sum", lr=1e-3, wd=5e-4):
    pipeline = pipeline_for(NetworkSpec(("rgb",), "softmax"),
                            DeepOptions(NetworkOptions(arch="resnet18", height=32, width=16)),
                            "cpu")
    targets = torch.from_numpy(embed_images(teacher, pipeline, train.depth, "depth"))
    config = TrainConfig(epochs=1, lr=lr, weight_decay=wd, momentum=0.9, lr_step=0,
                         batch_size=4, eval_every=1, augmentation=Augmentation("none", False))
    engine = TeacherStudentEngine(student, SampleSet.of(train, ("rgb",)), pipeline, config,
                                  quiet=True, targets=(targets,),
                                  loss=lambda out, target, _: distillation_loss(out[0], target[0],
                                                                                reduction))
    return engine, pipeline, targets


def a_batch(engine, index=(5, 0, 9, 2)):
    host = fetch(engine.samples, np.array(index))
    return engine.pipeline.train_batch(host, engine.config.augmentation,
                                       np.random.default_rng(0))


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_registry_names_settings_and_requirements() -> None:
    for name in MAIN:
        cls = get_method(name)
        source = "depth" if "depth2rgb" in name else "rgb"
        assert cls.settings == CROSS_MODAL
        assert cls.option_group == ("deep", "distillation")
        assert cls.requires == (f"resnet-{source}-{name.rsplit('-', 1)[1]}",)
        assert not cls.ablation
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        cls = get_method(f"distill-depth2rgb-softmax-freeze-{stage}")
        assert cls.ablation and "distill-depth2rgb-softmax" in cls.requires
    bn_fixed = get_method("distill-depth2rgb-softmax-bn-fixed")
    assert bn_fixed.pinned == {"step2": {"frozen_bn": "fixed"}}


def test_options_are_checked(tmp_path) -> None:
    cls = get_method("distill-depth2rgb-softmax")
    for bad in ({"learning_rate": 1.0}, {"step2": {"frozen_bn": "frozen"}},
                {"step2": {"loss_reduction": "avg"}}, {"step2": {"epochs": 0}},
                {"network": {"arch": "resnet18"}, "step2": {"freeze_from": "layer3.0.conv3"}},
                {"reproduction": {"train_split": "split-9"}}, {"distill_epochs": 1}):
        with pytest.raises(ConfigError):
            cls(context(tmp_path), **bad)
    ablation = get_method("distill-depth2rgb-softmax-freeze-layer1")(
        context(tmp_path), network={"arch": "resnet18"},
        step2={"freeze_from": "layer3", "lr": 0.5})
    assert (ablation.options.step2.freeze_from, ablation.options.step2.lr) == ("layer1", 0.5)
    assert ablation.options.network == NetworkOptions(arch="resnet18")


def test_freeze_points() -> None:
    r18 = build_network("resnet18", "softmax", num_classes=2)
    assert resolve_freeze_point(r18, "layer3") == "backbone.layer3.0.conv2"
    assert resolve_freeze_point(r18, "layer3.0.conv1") == "backbone.layer3.0.conv1"
    with torch.device("meta"):
        r50 = build_network("resnet50", "triplet")
    point = resolve_freeze_point(r50, "layer3")
    assert point == "backbone.layer3.0.conv3" == resolve_freeze_point(r50, "layer3.0.conv3")
    assert r50.get_submodule(point).out_channels == 1024
    frozen = frozen_modules(r50, point)
    assert frozen[0] == point and "backbone.layer3.0.downsample.0" in frozen
    assert "backbone.layer3.0.conv2" not in frozen and frozen[-1] == "head.embedding"


@pytest.mark.parametrize("mode", ["fixed", "adapt"])
def test_frozen_part_and_teacher(split, mode) -> None:
    train, _ = split
    teacher = teacher_network()
    student = StudentNetwork(teacher, frozen_modules(teacher, "backbone.layer3.0.conv2"),
                             fixed_bn=mode == "fixed")
    before, teacher_before = snapshot(student), snapshot(teacher)
    engine, _, _ = engine_for(student, train, teacher)
    student.train()
    engine.train_step(a_batch(engine))
    after = snapshot(student)
    frozen = tuple(f"{name}." for name in student.frozen)
    params = dict(student.named_parameters())
    trainable = set(student.trainable_names())
    assert trainable and all(not k.startswith(frozen) for k in trainable)
    assert all(not torch.equal(before[k], after[k]) for k in trainable)
    for key in before:
        if not key.startswith(frozen):
            continue
        changed = not torch.equal(before[key], after[key])
        if key in params or mode == "fixed":
            assert not changed, key
        elif key.endswith("running_mean"):
            assert changed, key
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in teacher_before.items())
    assert not teacher.training


def test_loss_is_squared_error_to_teacher_on_paired_frames(split) -> None:
    train, _ = split
    teacher = teacher_network()
    student = StudentNetwork(teacher, frozen_modules(teacher, "backbone.layer3.0.conv2"), False)
    with torch.no_grad():
        student.backbone.conv1.weight.mul_(1.5)
    engine, pipeline, _ = engine_for(student, train, teacher)
    rows = [5, 0, 9, 2]
    batch = a_batch(engine, rows)
    student.train()
    loss = engine.compute_loss(batch)
    embedding, _ = student(batch.inputs)
    expected = embed_images(teacher, pipeline, train.depth[rows], "depth")
    by_hand = ((embedding.detach().numpy() - expected) ** 2).sum()
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)
    assert loss.item() > 0


@pytest.mark.parametrize("reduction", ["mean", "per-sample"])
def test_reductions_match_sum_with_rescaled_settings(split, reduction) -> None:
    train, _ = split
    teacher = teacher_network()

    def two_steps(reduction: str, lr: float, wd: float) -> dict[str, torch.Tensor]:
        student = StudentNetwork(teacher, frozen_modules(teacher, "backbone.layer3.0.conv2"),
                                 False)
        engine, _, _ = engine_for(student, train, teacher, reduction, lr, wd)
        student.train()
        batch = a_batch(engine)
        for _ in range(2):
            engine.train_step(batch)
        return dict(student.named_parameters())

    initial = dict(StudentNetwork(teacher, [], False).named_parameters())
    lr, wd = 1e-4, 5e-2
    summed = two_steps("sum", lr, wd)
    lr_r, wd_r = equivalent_settings(lr, wd, reduction, 4, 128)
    assert (lr_r, wd_r) == pytest.approx((lr * (512 if reduction == "mean" else 4),
                                          wd / (512 if reduction == "mean" else 4)))
    rescaled = two_steps(reduction, lr_r, wd_r)
    naive = two_steps(reduction, lr_r, wd)
    moved = 0
    for name, p in summed.items():
        step = (p - initial[name]).abs().max().item()
        moved += step > 0
        assert torch.allclose(rescaled[name], p, rtol=1e-6, atol=1e-6 * step + 1e-12), name
    assert moved and any(not torch.allclose(naive[k], summed[k], rtol=1e-6, atol=0)
                         for k in summed)


def test_fit_reuses_step1_and_student(tmp_path, split, monkeypatch) -> None:
    train, val = split
    ctx = context(tmp_path)
    ctx.seed = ctx.seed_of("distill-depth2rgb-softmax")
    step1_ctx = context(tmp_path, seed=ctx.seed_of("resnet-depth-softmax"))
    ctx.inputs = {name: TaskInput(name, 0, options, context_.seed) for name, options, context_
                  in (("resnet-depth-softmax", STEP1, step1_ctx),
                      ("distill-depth2rgb-softmax", TINY, ctx))}
    _, step1_path = deep.train_or_load_step1("depth", "softmax", STEP1, train, val, step1_ctx)

    def no_training(self):
        raise AssertionError("trained again")

    monkeypatch.setattr(deep.SoftmaxEngine, "fit", no_training)
    matcher = get_method("distill-depth2rgb-softmax").from_offered(ctx, **TINY).fit(train, val)
    assert matcher.teacher_checkpoint == step1_path and matcher.checkpoint.is_file()
    step1_state, _ = load_checkpoint(step1_path)
    assert all(torch.equal(v, step1_state[k]) for k, v in matcher.teacher.state_dict().items())
    rgb, depth = matcher.embed(val.rgb, "rgb"), matcher.embed(val.depth, "depth")
    assert rgb.shape == depth.shape == (len(val), 128)

    monkeypatch.setattr(teacher_student.TeacherStudentEngine, "fit", no_training)
    again = get_method("distill-depth2rgb-softmax").from_offered(ctx, **TINY).fit(train, val)
    assert again.checkpoint == matcher.checkpoint
    assert np.allclose(again.embed(val.rgb, "rgb"), rgb, atol=1e-5)
    for other in ("distill-depth2rgb-softmax-freeze-layer3",  # another task: its own G
                  "distill-depth2rgb-softmax-bn-fixed"):
        with pytest.raises(AssertionError, match="trained again"):
            get_method(other).from_offered(ctx, **TINY).fit(train, val)
    with pytest.raises(AssertionError, match="trained again"):
        bn_fixed = {**TINY, "step2": {**TINY["step2"], "frozen_bn": "fixed"}}
        get_method("distill-depth2rgb-softmax").from_offered(ctx, **bn_fixed).fit(
            train, val)


def test_f_is_the_step1_task_as_the_plan_resolved_it(tmp_path) -> None:
    ctx = context(tmp_path)
    own = {**STEP1, "selection": {"epochs": 2, "eval_every": 1}}  # [options.resnet-...]
    ctx.inputs = {"resnet-depth-softmax": TaskInput("resnet-depth-softmax", 0, own, 1234)}
    step1 = get_method("distill-depth2rgb-softmax").from_offered(ctx, **TINY).step1()
    assert (step1.name, step1.context.seed, step1.options.selection.epochs) == (
        "resnet-depth-softmax", 1234, 2)
    # outside a run: F's defaults with the fields the distillation's options share
    outside_a_run = get_method("distill-depth2rgb-softmax").from_offered(
        context(tmp_path), **TINY).step1()
    assert outside_a_run.options.selection.epochs == 100
    assert outside_a_run.options.network == step1.options.network
    assert outside_a_run.context.seed == derive_seed(3, "resnet-depth-softmax", 0)


def test_ablation_tables(tmp_path) -> None:
    from benchmark.reports.ablation_tables import write_ablation_tables

    def record(method: str, fold: int, value: float) -> dict:
        metrics = {"rank1": value, "rank5": value, "rank10": value, "mAP": value}
        return {"dataset": "synthetic", "method": method, "fold": fold,
                "method_config": {"network": {"arch": "resnet18"}},
                "results": {"rgb->depth": metrics, "depth->rgb": metrics}}

    records = [record("distill-depth2rgb-softmax", k, 0.3) for k in range(2)]
    records += [record("distill-depth2rgb-softmax-freeze-layer2", k, 0.1 + 0.1 * k)
                for k in range(2)]
    records += [record("distill-depth2rgb-softmax-bn-fixed", 0, 0.2)]
    files = write_ablation_tables(records, tmp_path, "ablation", {"commit": "abc"})
    assert sorted(f.name for f in files) == [
        "ablation_bn_synthetic.csv", "ablation_bn_synthetic.json", "ablation_bn_synthetic.md",
        "ablation_freeze_synthetic.csv", "ablation_freeze_synthetic.json",
        "ablation_freeze_synthetic.md"]
    header = (tmp_path / "ablation_freeze_synthetic.csv").read_text().splitlines()[0]
    assert not header.startswith("#")
    info = json.loads((tmp_path / "ablation_freeze_synthetic.json").read_text())
    assert info["written"]["commit"] == "abc"
    assert info["profile"] == "ablation" and info["runs"]["records"] == 5
    freeze = (tmp_path / "ablation_freeze_synthetic.md").read_text()
    assert "layer2 (layer2.0.conv2, resnet18) | 15.00 ± 7.07 | 15.00 ± 7.07" in freeze
    assert freeze.count("–") == 12
    bn = (tmp_path / "ablation_bn_synthetic.md").read_text().splitlines()
    assert bn[2].startswith("| adapt") and "30.00 ± 0.00" in bn[2] and "| 20.00 |" in bn[3]
    assert write_ablation_tables(records[:2], tmp_path / "none") == []


def test_freeze_points_resolve_on_every_supported_architecture():
    from methods.deep.backbones.families import ARCHS, freeze_point
    from methods.teacher_student.distillation_parts import check_freeze_point

    for arch in ARCHS:
        check_freeze_point(arch, freeze_point(arch, "layer3"))
        check_freeze_point(arch, "layer3.0.depthwise.conv" if "lite" in arch
                           else "layer3.0.conv1")
    with pytest.raises(ConfigError):
        check_freeze_point("resnet10", "layer9.0.conv1")

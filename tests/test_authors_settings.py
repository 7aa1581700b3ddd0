"""The authors' training settings that the `paper` profile reproduces, one test each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import parsed, toy_frames

from benchmark.runs.config import load_profile
from benchmark.runs.planner import resolved_options
from methods.core.context import TaskContext
from methods.core.protocol_authors import one_trial
from methods.deep.augment import IMAGENET_MEAN, IMAGENET_STD
from methods.deep.baselines import NetworkSpec, encoder_for, pipeline_for, train_config
from methods.deep.engine import TrainConfig, TripletEngine
from methods.deep.inputs import SampleSet
from methods.deep.model_selection import Validation
from methods.deep.networks import build_network
from methods.deep.option_sections import (
    DeepOptions,
    SoftmaxOptions,
    TripletOptions,
    ZeroPaddingOptions,
)
from methods.deep.samplers import IdentityBatches
from methods.distillation import DistillationOptions, DistillDepth2rgbSoftmax
from methods.teacher_student.distillation_parts import StudentNetwork, frozen_modules

ZERO_PADDING = NetworkSpec(("rgb", "depth"), "softmax", layout="zero-padding")


def test_a_triplet_epoch_is_each_identity_once():
    # BIWI: 32 training identities x 4 images / batch 64 = 2 iterations (open-reid's
    # RandomIdentitySampler with drop_last), not one pass over the images.
    frames = toy_frames(identities=32, per_identity=10, size=(8, 4))
    samples = SampleSet.of(frames, ("rgb",))
    small = {"arch": "resnet10", "height": 8, "width": 4}
    options = parsed(TripletOptions, network=small, triplet={"identity_epochs": True})
    config = train_config(NetworkSpec(("rgb",), "triplet"), options)
    network = build_network("resnet10", "triplet")
    engine = TripletEngine(network, samples, pipeline_for(NetworkSpec(("rgb",), "triplet"),
                                                          options, "cpu"), config, quiet=True)
    assert engine.iterations_per_epoch == 2
    images = parsed(TripletOptions, network=small, triplet={"identity_epochs": False})
    engine = TripletEngine(network, samples, pipeline_for(NetworkSpec(("rgb",), "triplet"),
                                                          images, "cpu"),
                           train_config(NetworkSpec(("rgb",), "triplet"), images), quiet=True)
    assert engine.iterations_per_epoch == 320 // 64


def test_covering_identity_batches_hold_every_identity_once_per_epoch():
    labels = np.repeat(np.arange(32), 5)
    sampler = IdentityBatches(labels, 16, 4, np.random.default_rng(0), cover=True)
    for _ in range(3):
        epoch = np.concatenate(list(sampler.batches(2)))
        assert sorted(np.unique(labels[epoch])) == list(range(32))
        assert np.all(np.bincount(labels[epoch]) == 4)


def test_authors_validation_schedule():
    authors = TrainConfig(epochs=100, eval_every=10, eval_schedule="authors")
    assert [e for e in range(1, 101) if authors.validates_after(e)] == list(range(1, 100, 10))
    ours = TrainConfig(epochs=95, eval_every=10, eval_schedule="end-of-period")
    assert [e for e in range(1, 96) if ours.validates_after(e)] == [*range(10, 91, 10), 95]


def test_softmax_trunk_learns_at_the_full_rate_in_the_paper_profile():
    options = parsed(SoftmaxOptions, **resolved_options(load_profile("paper"),
                                                        "resnet-rgb-softmax"))
    config = train_config(NetworkSpec(("rgb",), "softmax"), options)
    assert options.network.pretrained == "imagenet"
    assert config.backbone_lr_mult == 1.0 and config.lr == 0.1
    assert config.amp is False


def _depth_batch(frames, rows):
    return torch.from_numpy(frames.depth[rows])


def test_zero_padding_puts_depth_in_channel_0_at_test_in_the_authors_layout():
    frames = toy_frames(identities=2, per_identity=2, size=(8, 4))
    depth = _depth_batch(frames, [0, 1])
    authors = parsed(ZeroPaddingOptions, reproduction={"zero_padding_eval": "authors"})
    trained = encoder_for(ZERO_PADDING, authors).encode(depth, "depth")
    tested = encoder_for(ZERO_PADDING, authors, evaluation=True).encode(depth, "depth")
    assert torch.all(trained[:, :2] == 0) and torch.any(trained[:, 2] > 0)
    assert torch.all(tested[:, 1:] == 0) and torch.equal(tested[:, 0], trained[:, 2])
    corrected = encoder_for(ZERO_PADDING, ZeroPaddingOptions(), evaluation=True).encode(
        depth, "depth")
    assert torch.equal(corrected, trained)


def test_stored_8bit_depth_reaches_the_network_unchanged_but_for_normalisation():
    rng = np.random.default_rng(0)
    depth = rng.integers(0, 256, size=(3, 16, 8)).astype(np.uint16)
    options = parsed(DeepOptions, network={"height": 16, "width": 8,
                                           "depth_encoding": "stored"})
    x = pipeline_for(NetworkSpec(("depth",), "softmax"), options, "cpu",
                     evaluation=True).eval_inputs(depth, "depth")
    for c in range(3):
        expected = (depth / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        np.testing.assert_allclose(x[:, c].numpy(), expected, atol=1e-5)
    with pytest.raises(ValueError, match="8-bit"):
        pipeline_for(NetworkSpec(("depth",), "softmax"), options, "cpu").eval_inputs(
            depth + 1000, "depth")


@pytest.mark.parametrize("loss", ["softmax", "triplet"])
def test_student_dropout_is_active_in_training_and_off_in_eval(loss):
    torch.manual_seed(0)
    teacher = build_network("resnet10", loss, num_classes=4).eval()
    student = StudentNetwork(teacher, frozen_modules(teacher, "backbone.layer3"),
                             fixed_bn=False, dropout=0.5)
    x = torch.randn(4, 3, 32, 16)
    student.eval()
    np.testing.assert_allclose(student(x)[0].detach(), teacher(x)[0].detach(), atol=1e-6)
    student.train()
    first, second = student(x)[0], student(x)[0]
    assert not torch.allclose(first, second)
    if loss == "softmax":  # dropout acts on the regressed 128-d embedding itself
        assert (first == 0).float().mean() > 0.3
    without = StudentNetwork(teacher, frozen_modules(teacher, "backbone.layer3"),
                             fixed_bn=False, dropout=0.0).train()
    assert torch.allclose(without(x)[0], without(x)[0])


def test_split0_step2_learns_on_fold_0_identities(tmp_path: Path):
    fold0 = toy_frames(identities=4, per_identity=2, size=(8, 4))
    fold1 = toy_frames(identities=6, per_identity=2, size=(8, 4), seed=1)
    context = TaskContext(artifact_root=tmp_path, fold=1, first_fold_train=lambda: fold0)
    bugged = DistillDepth2rgbSoftmax(context=context, network={"arch": "resnet10"},
                                     reproduction={"train_split": "split-0"})
    assert bugged.student_training_frames(fold1) is fold0
    fixed = DistillDepth2rgbSoftmax(context=context, network={"arch": "resnet10"})
    assert fixed.student_training_frames(fold1) is fold1


def test_authors_validation_is_their_evaluator_on_the_validation_identities():
    frames = toy_frames(identities=5, per_identity=6, size=(8, 4))
    rng = np.random.default_rng(3)
    embeddings = {"rgb": rng.normal(size=(30, 4)), "depth": rng.normal(size=(30, 4))}
    validation = Validation(frames, "authors", seed=4)
    score = validation.scores(embeddings, (("rgb", "depth"),))[0]
    expected = one_trial(embeddings["rgb"], frames.pids, frames.frames, embeddings["depth"],
                         frames.pids, frames.frames, authors_bug=True,
                         distance=lambda q, g: np.linalg.norm(q[:, None] - g[None], axis=2),
                         rng=np.random.default_rng([4, 7]))["mAP"]
    assert score == pytest.approx(expected)
    # new draws at each validation
    assert validation.scores(embeddings, (("rgb", "depth"),))[0] != pytest.approx(score)


def test_paper_profile_resolves_to_the_authors_values_and_corrected_turns_bugs_off():
    paper, corrected = load_profile("paper"), load_profile("paper-corrected")
    bugs = {"zero_padding_eval": ("authors", "as-trained"),
            "validation": ("authors", "temporal"),
            "train_split": ("split-0", "fold")}
    for method in paper.run.methods:
        a, b = resolved_options(paper, method), resolved_options(corrected, method)
        differing = {k for k in a if a[k] != b[k]}
        assert differing <= {"reproduction"}, method
        for key, (authors, fixed) in bugs.items():
            if key in a.get("reproduction", {}):
                assert (a["reproduction"][key], b["reproduction"][key]) == (authors, fixed)
    distill = parsed(DistillationOptions,
                     **resolved_options(paper, "distill-depth2rgb-softmax"))
    assert (distill.step2.dropout, distill.step2.augmentation.flip) == (0.5, True)
    triplet = parsed(TripletOptions, **resolved_options(paper, "resnet-depth-triplet"))
    assert (triplet.triplet.identity_epochs, triplet.selection.eval_schedule) == (True,
                                                                                  "authors")
    softmax = parsed(SoftmaxOptions, **resolved_options(paper, "resnet-depth-softmax"))
    assert (distill.network.depth_encoding, distill.numerics.amp,
            softmax.softmax.backbone_lr_mult) == ("stored", False, 1.0)



def test_relative_depth_keeps_the_body_relief_whatever_the_wall_distance():
    from methods.deep.inputs import depth_grey, relative_grey

    depth = np.full((1, 16, 8), 3000, dtype=np.uint16)
    depth[0, 4:12, 3] = 2900  # a body part 10 cm nearer than the torso
    depth[0, 4:12, 2] = 3100
    depth[0, 0, 0] = 0
    near_wall, far_wall = depth.copy(), depth.copy()
    near_wall[0, :, 0], far_wall[0, :, 0] = 3500, 9000
    for scene in (near_wall, far_wall):
        grey = relative_grey(torch.from_numpy(scene))[0]
        assert grey[8, 3] - grey[8, 2] == pytest.approx(round(127 * 0.2), abs=1)
        assert grey[0, 1] == 128  # the torso is the median of the centre
    assert relative_grey(torch.from_numpy(depth))[0, 0, 0] == 0  # missing stays 0
    stretched = depth_grey(torch.from_numpy(far_wall))[0]
    assert stretched[8, 3] - stretched[8, 2] < 10  # per-crop stretching flattens it

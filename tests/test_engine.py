"""The training engine: model selection, early stopping, loss decrease, determinism,
and the batched augmentation it feeds."""

import numpy as np
import pytest
import torch
from torch import nn

from methods.core.frames import PairedFrames
from methods.deep import augment
from methods.deep.augment import Augmentation
from methods.deep.engine import (
    Engine,
    SoftmaxEngine,
    TrainConfig,
    TripletEngine,
    seeded,
    zero_momentum,
)
from methods.deep.inputs import InputEncoder, Pipeline, SampleSet


def blob_frames(n_ids: int = 4, per_id: int = 8, size=(16, 8), seed: int = 0) -> PairedFrames:
    """Identity-coloured crops with noise; depth = identity-dependent distance."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(n_ids), per_id)
    colours = rng.integers(0, 256, (n_ids, 3))
    rgb = np.clip(colours[pids][:, None, None, :] + rng.normal(0, 25, (len(pids), *size, 3)),
                  0, 255).astype(np.uint8)
    depth = (1000 + 300 * pids[:, None, None] + rng.normal(0, 20, (len(pids), *size)))
    depth[:, :, : size[1] // 2] = 4000
    n = len(pids)
    return PairedFrames(pids, np.zeros(n, np.int64), np.arange(n, dtype=np.int64), rgb,
                        depth.astype(np.uint16))


class TinyNet(nn.Module):
    """A few-parameter stand-in with the networks' (embedding, logits) interface."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8, 8)
        self.classifier = nn.Linear(8, num_classes)

    def forward(self, x):
        embedding = self.head(self.backbone(x))
        return embedding, self.classifier(embedding)


def make_engine(cls=SoftmaxEngine, seed: int = 0, validate=None, **config):
    frames = blob_frames()
    samples = SampleSet.of(frames, ["rgb"])
    pipeline = Pipeline(InputEncoder(), (16, 8))
    settings = dict(epochs=4, lr=0.1, batch_size=8, eval_every=1, lr_step=0)
    settings.update(config)
    with seeded(seed):
        model = TinyNet(samples.num_classes)
    return cls(model, samples, pipeline, TrainConfig(**settings), seed=seed,
               validate=validate, quiet=True)


def scripted_validator(scores):
    """Returns the given scores in turn and remembers the weights it saw."""
    seen = []

    def validate(model):
        seen.append({k: v.clone() for k, v in model.state_dict().items()})
        return scores[len(seen) - 1]

    return validate, seen


def test_best_checkpoint_is_restored() -> None:
    validate, seen = scripted_validator([0.1, 0.5, 0.3, 0.2])
    engine = make_engine(validate=validate)
    result = engine.fit()
    assert result.best_epoch == 2 and result.best_score == 0.5
    assert result.epochs_run == 4 and not result.stopped_early
    for name, value in engine.model.state_dict().items():
        assert torch.equal(value, seen[1][name])
    assert not torch.equal(engine.model.head.weight, seen[3]["head.weight"])


def test_early_stopping_after_patience() -> None:
    validate, seen = scripted_validator([0.1, 0.5, 0.3, 0.2, 0.9, 0.9])
    result = make_engine(validate=validate, epochs=6, patience=2).fit()
    assert result.stopped_early and result.epochs_run == 4 and len(seen) == 4
    assert result.best_epoch == 2


def test_validation_every_n_epochs_and_last() -> None:
    validate, seen = scripted_validator([0.1, 0.2, 0.3])
    result = make_engine(validate=validate, epochs=5, eval_every=2).fit()
    assert [r["epoch"] for r in result.history if "val" in r] == [2, 4, 5]
    assert result.best_epoch == 5


def test_training_reduces_the_loss() -> None:
    result = make_engine(epochs=12, augmentation=Augmentation("none", False)).fit()
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < 0.7 * losses[0]
    assert result.steps == 12 * (32 // 8)


def test_learning_rate_steps() -> None:
    result = make_engine(epochs=5, lr_step=2, lr_gamma=0.1).fit()
    assert np.allclose([r["lr"] for r in result.history], [0.1, 0.1, 0.01, 0.01, 0.001])


def test_same_seed_same_weights() -> None:
    runs = [make_engine(TripletEngine, seed=s, sampler="identity", p=2, k=4, optimizer="adam",
                        lr=1e-2, epochs=2) for s in (5, 5, 6)]
    for engine in runs:
        engine.fit()
    weights = [engine.model.head.weight for engine in runs]
    assert torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_rect_crop_boxes_fit_inside_the_image() -> None:
    boxes = augment.rect_crop_boxes(np.random.default_rng(0), 500, 64, 32)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 64).all() and (left + w <= 32).all()
    ratio = h / w
    cropped = (h < 64) | (w < 32)
    assert ((ratio[cropped] > 1.9) & (ratio[cropped] < 3.1)).all()
    assert (h * w >= 0.6 * 64 * 32).all()


def test_identity_box_and_flip() -> None:
    images = torch.rand(2, 3, 8, 4)
    boxes = np.array([[0, 0, 8, 4], [0, 0, 8, 4]])
    theta = augment.boxes_to_affine(boxes, np.array([False, True]), 8, 4)
    grid = torch.nn.functional.affine_grid(theta, [2, 3, 8, 4], align_corners=False)
    out = torch.nn.functional.grid_sample(images, grid, align_corners=False)
    assert torch.allclose(out[0], images[0], atol=1e-6)
    assert torch.allclose(out[1], images[1].flip(-1), atol=1e-6)


def test_random_erasing_zeroes_one_rectangle() -> None:
    images = torch.ones(20, 3, 16, 8)
    out = augment.erase(images, 1.0, np.random.default_rng(0))
    erased = out[:, 0] == 0
    assert erased.flatten(1).any(1).all()
    assert torch.equal(erased, (out == 0).all(1))


def test_batches_carry_each_samples_modality_on_the_training_device() -> None:
    frames = blob_frames()
    samples = SampleSet.of(frames, ["rgb", "depth"])
    seen = []

    def loss(model, batch):
        seen.append((batch.index.copy(), batch.modalities.clone()))
        assert batch.modalities.device == batch.inputs.device == batch.labels.device
        return nn.functional.cross_entropy(model(batch.inputs)[1], batch.labels)

    with seeded(0):
        model = TinyNet(samples.num_classes)
    engine = Engine(model, samples, Pipeline(InputEncoder(), (16, 8)),
                    TrainConfig(epochs=1, batch_size=8, lr_step=0), quiet=True, loss=loss)
    engine.fit()
    assert len(seen) == len(samples) // 8
    for index, codes in seen:
        np.testing.assert_array_equal(codes.numpy(), samples.modalities[index])
    assert {int(c) for _, codes in seen for c in codes} == {0, 1}


def test_an_engine_without_a_loss_says_what_is_missing() -> None:
    with pytest.raises(NotImplementedError, match="give a loss or override compute_loss"):
        make_engine(Engine).fit()


def test_zero_momentum_buffers_give_torchs_first_steps_bit_for_bit() -> None:
    def trained(zeroed: bool) -> list[torch.Tensor]:
        with seeded(3):
            model = nn.Linear(5, 3)
            inputs = torch.randn(4, 5)
        sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4,
                              nesterov=True, fused=True)
        if zeroed:
            zero_momentum(sgd)
        for _ in range(3):
            sgd.zero_grad(set_to_none=True)
            model(inputs).pow(2).sum().backward()
            sgd.step()
        return [p.detach().clone() for p in model.parameters()]

    for plain, zeroed in zip(trained(False), trained(True), strict=True):
        assert torch.equal(plain, zeroed)


def test_a_part_without_gradients_in_some_steps_is_left_alone() -> None:
    first, second = nn.Linear(3, 2), nn.Linear(3, 2)
    sgd = torch.optim.SGD([*first.parameters(), *second.parameters()], lr=0.1,
                          momentum=0.9, weight_decay=5e-4, nesterov=True, fused=True)
    zero_momentum(sgd)
    before = second.weight.detach().clone()
    for part in (first, first, second):  # the second part joins after two steps
        sgd.zero_grad(set_to_none=True)
        part(torch.ones(1, 3)).sum().backward()
        if part is first:
            unchanged = second.weight.detach().clone()
        sgd.step()
        if part is first:
            assert torch.equal(second.weight, unchanged)
    assert not torch.equal(second.weight, before)

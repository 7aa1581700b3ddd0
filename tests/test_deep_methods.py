"""The registered deep methods: options, fit/embed, artifact reuse and determinism."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch.nn.functional as F

from benchmark.runs.config import load_profile
from benchmark.runs.planner import built_options
from methods.core import registry
from methods.core.context import TaskContext, derive_seed
from methods.core.errors import ConfigError
from methods.core.frames import PairedFrames
from methods.core.matcher import CROSS_MODAL, DEPTH_ONLY, RGB_ONLY
from methods.core.options import merge_tables, take_declared
from methods.core.registry import get_method, register
from methods.deep import baselines as deep
from methods.deep.loss_method import LossMethod
from methods.deep.losses import batch_hard_triplet_loss

TINY = {"network": {"arch": "resnet18", "height": 32, "width": 16},
        "selection": {"epochs": 1, "eval_every": 1}, "softmax": {"batch_size": 16},
        "triplet": {"p": 2, "k": 4}, "compute": {"eval_batch_size": 64}}


def tiny(**sections: dict) -> dict:
    """TINY with the fields of ``sections`` changed (``tiny(triplet={"k": 3})``)."""
    return merge_tables(TINY, sections)


def blob_frames(n_ids: int, per_id: int, first_pid: int, seed: int) -> PairedFrames:
    """Identity-coloured 32x16 crops; depth = a body of identity-dependent width."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(first_pid, first_pid + n_ids), per_id)
    colours = rng.integers(0, 256, (n_ids, 3))[pids - first_pid]
    rgb = np.clip(colours[:, None, None] + rng.normal(0, 20, (len(pids), 32, 16, 3)), 0, 255)
    xs = np.arange(16)[None, None, :]
    body = np.abs(xs - 8) < (2 + (pids % 4))[:, None, None]
    depth = np.where(body, 2500 + rng.normal(0, 30, (len(pids), 32, 16)), 0)
    n = len(pids)
    return PairedFrames(pids, np.zeros(n, np.int64), np.arange(n, dtype=np.int64) + 100 * seed,
                        rgb.astype(np.uint8), depth.astype(np.uint16))


@pytest.fixture(scope="module")
def split():
    return blob_frames(3, 4, 0, 1), blob_frames(2, 4, 10, 2)


def context(root: Path, seed: int = 0, method: str = "") -> TaskContext:
    """A task context; with ``method``, its seed is the one the runner gives that task."""
    if method:
        seed = derive_seed(seed, method, 0)
    return TaskContext(artifact_root=root, dataset_key="blobs", fold=0, seed=seed, quiet=True,
                       run_seed=0)


def test_registered_names_and_settings() -> None:
    expected = {"resnet-rgb-softmax": RGB_ONLY, "resnet-rgb-triplet": RGB_ONLY,
                "resnet-depth-softmax": DEPTH_ONLY, "resnet-depth-triplet": DEPTH_ONLY,
                "zero-padding": CROSS_MODAL, "one-stream": CROSS_MODAL}
    for name, settings in expected.items():
        cls = get_method(name)
        assert cls.settings == settings and cls.option_group == "deep"


def test_options_are_checked(tmp_path) -> None:
    cls = get_method("zero-padding")
    with pytest.raises(ConfigError):
        cls(context(tmp_path), learning_rate=0.1)
    with pytest.raises(ConfigError, match=r"\[network\]: zero_padding_channels must be"):
        cls(context(tmp_path), network={"zero_padding_channels": 1})
    with pytest.raises(ConfigError, match="depth_encoding"):
        cls(context(tmp_path), network={"depth_encoding": "jet"})
    with pytest.raises(ConfigError, match="network is a section"):
        cls(context(tmp_path), network="resnet18")


def test_fit_embed_and_reuse_without_retraining(tmp_path, split, monkeypatch) -> None:
    train, val = split
    name = "resnet-depth-triplet"
    matcher = get_method(name).from_offered(context(tmp_path, method=name), **TINY).fit(
        train, val)
    embedding = matcher.embed(val.depth, "depth")
    assert embedding.shape == (len(val), 128) and embedding.dtype == np.float32
    assert matcher.checkpoint.is_file()
    with pytest.raises(ValueError):
        matcher.embed(val.rgb, "rgb")

    def no_training(self):
        raise AssertionError("trained again")

    monkeypatch.setattr(deep.TripletEngine, "fit", no_training)
    again = get_method(name).from_offered(context(tmp_path, method=name), **TINY).fit(
        train, val)
    assert again.checkpoint == matcher.checkpoint
    assert np.allclose(again.embed(val.depth, "depth"), embedding, atol=1e-5)
    distillation = context(tmp_path, method="some-distillation")
    network, path = deep.train_or_load_step1("depth", "triplet", TINY, train, val,
                                             distillation)
    assert path == matcher.checkpoint and not network.training
    other = get_method(name).from_offered(context(tmp_path, method=name),
                                          **tiny(triplet={"k": 3}))
    with pytest.raises(AssertionError, match="trained again"):
        other.fit(train, val)


def test_cross_modal_networks_are_deterministic(tmp_path, split) -> None:
    train, val = split
    runs = []
    for i in range(2):
        matcher = get_method("zero-padding").from_offered(
            context(tmp_path / str(i), seed=7), **tiny(network={"zero_padding_channels": 2})
        ).fit(train, val)
        runs.append((matcher.embed(val.rgb, "rgb"), matcher.embed(val.depth, "depth")))
    assert runs[0][0].shape == runs[0][1].shape == (len(val), 128)
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert matcher.distance(*runs[0]).shape == (len(val), len(val))


def test_one_stream_with_colormap_depth(tmp_path, split) -> None:
    train, val = split
    matcher = get_method("one-stream").from_offered(
        context(tmp_path), **tiny(network={"depth_encoding": "colormap"})).fit(train, val)
    rgb, depth = matcher.embed(val.rgb, "rgb"), matcher.embed(val.depth, "depth")
    assert rgb.shape == depth.shape == (len(val), 128)
    assert np.isfinite(rgb).all() and np.isfinite(depth).all()


def keys_of_every_network(tmp_path, **changed: dict) -> dict[str, dict]:
    """The artifact key of every built-in deep network (and distillation's step I) of one
    fold, under TINY with ``changed``."""
    train, val = blob_frames(3, 4, 0, 1), blob_frames(2, 4, 10, 2)
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)
    names = ["resnet-rgb-softmax", "resnet-depth-softmax", "zero-padding", "one-stream",
             "resnet-rgb-triplet", "resnet-depth-triplet"]
    return {name: get_method(name).from_offered(context, **tiny(**changed)).training_key(
        train, val) for name in names}


def test_a_network_key_holds_only_the_recipe_it_trains_with(tmp_path) -> None:
    base = keys_of_every_network(tmp_path)
    softmax = ["resnet-rgb-softmax", "resnet-depth-softmax", "zero-padding", "one-stream"]
    triplet = ["resnet-rgb-triplet", "resnet-depth-triplet"]
    for change, moved in [({"triplet": {"margin": 0.3}}, triplet),
                          ({"triplet": {"p": 3}}, triplet),
                          ({"softmax": {"lr": 0.05}}, softmax),
                          ({"softmax": {"dropout": 0.2}}, softmax),
                          ({"network": {"zero_padding_channels": 2}}, ["zero-padding"]),
                          ({"reproduction": {"zero_padding_eval": "authors"}},
                           ["zero-padding"]),
                          ({"compute": {"eval_batch_size": 8, "num_threads": 1}}, []),
                          ({"selection": {"epochs": 3}}, softmax + triplet)]:
        keys = keys_of_every_network(tmp_path, **change)
        assert sorted(n for n in keys if keys[n] != base[n]) == sorted(moved), change


class MarginLoss(LossMethod):
    """A loss method with two hyperparameters, on paired batches."""

    sampler = "paired"

    @dataclass(frozen=True)
    class Hyperparameters:
        margin: float = 0.5
        p: int = 2
        k: int = 2

        def __post_init__(self) -> None:
            if self.margin < 0:
                raise ValueError("margin must be >= 0")

    def loss(self, outputs, labels, modalities):
        return batch_hard_triplet_loss(outputs[0], labels, self.hyper.margin)


class ScaledLoss(LossMethod):
    """Another loss method, single-modal, with its own hyperparameter."""

    modalities = ("depth",)

    @dataclass(frozen=True)
    class Hyperparameters:
        scale: float = 1.0

    def loss(self, outputs, labels, modalities):
        return self.hyper.scale * F.cross_entropy(outputs[1], labels)


def test_a_loss_key_holds_its_hyperparameters_and_the_sections_it_reads(tmp_path) -> None:
    train, val = blob_frames(3, 4, 0, 1), blob_frames(2, 4, 10, 2)
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)

    def keys(**changed) -> dict[str, str]:
        offered = tiny(**{k: v for k, v in changed.items() if isinstance(v, dict)})
        own = {k: v for k, v in changed.items() if not isinstance(v, dict)}
        return {cls.__name__: cls(context, **take_declared(cls.Options, offered),
                                  **take_declared(cls.Options, own)).training_key(train, val)
                for cls in (MarginLoss, ScaledLoss)}

    base = keys()
    for change, moved in [({"margin": 0.3}, ["MarginLoss"]), ({"p": 3}, ["MarginLoss"]),
                          ({"scale": 2.0}, ["ScaledLoss"]),
                          ({"softmax": {"lr": 0.05}}, ["MarginLoss", "ScaledLoss"]),
                          ({"triplet": {"margin": 0.3}}, []),
                          ({"compute": {"eval_batch_size": 8}}, [])]:
        changed = keys(**change)
        assert sorted(n for n in base if changed[n] != base[n]) == moved, change


def test_a_loss_reads_its_hyperparameters_from_its_own_section(registered_loss) -> None:
    profile = load_profile("smoke", ["options.margin-loss.margin=0.25",
                                     "options.deep.softmax.lr=0.05"])
    options = built_options(profile, "margin-loss")
    assert (options.margin, options.softmax.lr) == (0.25, 0.05)
    method = MarginLoss(**dataclasses.asdict(options))
    assert method.hyper == MarginLoss.Hyperparameters(margin=0.25)
    config = method.train_config()
    assert (config.sampler, config.p, config.k, config.lr) == ("paired", 2, 2, 0.05)
    assert MarginLoss.settings == CROSS_MODAL and ScaledLoss.settings == DEPTH_ONLY
    with pytest.raises(ConfigError, match="margin must be >= 0"):
        built_options(load_profile("smoke", ["options.margin-loss.margin=-1.0"]),
                      "margin-loss")
    with pytest.raises(ConfigError, match="unknown option"):
        built_options(load_profile("smoke", ["options.margin-loss.scale=2.0"]),
                      "margin-loss")


@pytest.fixture
def registered_loss():
    register("margin-loss")(MarginLoss)
    yield
    registry._REGISTRY.pop("margin-loss", None)
    MarginLoss.name = ""


def test_a_loss_class_that_cannot_work_is_refused_when_defined() -> None:
    with pytest.raises(TypeError, match="needs hyperparameters p and k"):
        type("NoBatchShape", (LossMethod,), {"sampler": "paired"})
    with pytest.raises(TypeError, match="name option sections"):
        type("Clash", (LossMethod,), {"Hyperparameters": dataclass(frozen=True)(
            type("Hyperparameters", (), {"__annotations__": {"network": int},
                                         "network": 1}))})

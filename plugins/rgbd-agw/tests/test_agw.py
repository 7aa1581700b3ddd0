"""AGW plugin: its schedule and batches against AGW's code, its imports, and a tiny
training through the benchmark (trained once, then loaded)."""

import ast
import importlib.metadata
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rgbd_agw
import torch

from methods import api
from methods.api import toy_frames
from methods.core.context import TaskContext
from methods.core.options import take_declared

PLUGIN = Path(rgbd_agw.__file__)
TINY = {"network": {"arch": "resnet10", "height": 32, "width": 16},
        "recipe": {"epochs": 3, "p": 2, "k": 2, "warmup": 1},
        "selection": {"eval_every": 1, "eval_schedule": "end-of-period"},
        "compute": {"eval_batch_size": 16}}


def test_learning_rate_is_agws_warm_up_and_steps() -> None:
    # train.py:218-233 with lr 0.1: epochs 0-9 ramp 0.01 ... 0.1, then 0.1, 0.01, 0.001
    stub = SimpleNamespace(options=rgbd_agw.AGWOptions(), config=SimpleNamespace(lr=0.1))
    got = [rgbd_agw.AGWEngine.learning_rate(stub, e) for e in (0, 4, 9, 10, 19, 20, 49, 50, 80)]
    np.testing.assert_allclose(got, [0.01, 0.05, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_batches_hold_p_identities_with_k_frames_in_both_modalities() -> None:
    labels = np.tile(np.repeat(np.arange(5), 3), 2)  # 15 rgb samples, then their depth
    config = rgbd_agw.AGW(**TINY).train_config()
    assert (config.sampler, config.p, config.k) == ("paired", 2, 2)
    modalities = np.repeat([0, 1], 15)
    sampler = api.PairedIdentityBatches(labels, modalities, 2, 2, np.random.default_rng(0))
    assert sampler.batch_size == 8
    for batch in sampler.batches(4):
        rgb, depth = batch[:4], batch[4:]
        assert (rgb < 15).all() and (depth == rgb + 15).all()
        assert len(set(labels[rgb])) == 2 and np.bincount(labels[rgb]).max() == 2


def test_plugin_imports_only_the_public_api() -> None:
    tree = ast.parse(PLUGIN.read_text())
    project = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        project |= {n for n in names if n.split(".")[0] in ("methods", "benchmark", "features")}
    assert project == {"methods.api"}
    assert len(PLUGIN.read_text().splitlines()) <= 150


def test_trains_once_then_loads_the_same_network(tmp_path, monkeypatch) -> None:
    train, val, test = toy_frames(4, 4, 0, 1), toy_frames(2, 4, 10, 2), toy_frames(3, 2, 20, 3)
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)
    fitted = rgbd_agw.AGW(context, **TINY).fit(train, val)
    first = {m: fitted.embed(test.images(m), m) for m in ("rgb", "depth")}
    monkeypatch.setattr(rgbd_agw.AGWEngine, "fit", lambda self: pytest.fail("trained again"))
    loaded = rgbd_agw.AGW(context, **TINY).fit(train, val)
    for modality, embeddings in first.items():
        np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
        np.testing.assert_array_equal(loaded.embed(test.images(modality), modality), embeddings)
    streams = loaded.network.head.streams
    assert not torch.equal(streams[0][0].weight, streams[1][0].weight)


def test_runs_through_the_benchmark_and_its_tables(tmp_path) -> None:
    names = [e.name for e in importlib.metadata.entry_points(group="rgbd_bench.methods")]
    if "agw" not in names:
        pytest.skip("the plugin is not installed (pip install plugins/rgbd-agw)")
    run = subprocess.run(
        [sys.executable, "-m", "benchmark", "run", "--profile", "smoke", "--methods", "agw",
         "--set", "dataset.identities=8", "--set", "dataset.frames_per_identity=4",
         "--set", "options.agw.recipe.epochs=2", "--set", "options.agw.recipe.p=2",
         "--set", "options.agw.recipe.k=2", "--output", str(tmp_path / "out"), "--quiet"],
        capture_output=True, text=True, env=None)
    assert run.returncode == 0, run.stderr
    table = next((tmp_path / "out" / "tables").rglob("table3_synthetic.csv")).read_text()
    assert "agw" in table.lower()


def test_key_holds_agws_recipe_not_the_built_in_ones(tmp_path) -> None:
    train, val = toy_frames(4, 4, 0, 1), toy_frames(2, 4, 10, 2)
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True)

    def key(section: str = "recipe", **changed):
        options = {**TINY, section: {**TINY.get(section, {}), **changed}}
        return rgbd_agw.AGW(context, **options).training_key(train, val)

    offered = {"triplet": {"margin": 0.1}, "softmax": {"lr": 0.5}, "selection": {"patience": 2}}
    assert take_declared(rgbd_agw.AGWOptions, offered) == {"selection": {"patience": 2}}
    assert key() == key("compute", eval_batch_size=8)
    assert key() != key(lr=0.05) and key() != key("network", embedding_dim=64)


@pytest.mark.parametrize("entry", ["layer4", "head"])
def test_a_fixed_trunk_fed_from_the_store_trains_the_same_network(tmp_path, entry) -> None:
    train, val, test = toy_frames(4, 4, 0, 1), toy_frames(2, 4, 10, 2), toy_frames(3, 2, 20, 3)
    options = {**TINY, "network": {**TINY["network"], "train_from": entry},
               "augmentation": {"crop": "none", "flip": True}}
    fitted = {}
    for cached in (False, True):
        context = TaskContext(artifact_root=tmp_path / str(cached), dataset_key="blobs",
                              quiet=True)
        given = {**options, "compute": {**TINY["compute"], "cache_fixed_stages": cached}}
        fitted[cached] = rgbd_agw.AGW(context, **given).fit(train, val)
    assert list((tmp_path / "True").rglob("chunk-*.npz"))
    for modality in ("rgb", "depth"):  # equal up to float32 rounding
        np.testing.assert_allclose(fitted[True].embed(test.images(modality), modality),
                                   fitted[False].embed(test.images(modality), modality),
                                   rtol=1e-4, atol=1e-5)

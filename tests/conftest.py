"""Shared fixtures: a tiny toy data set whose identities are visible in both modalities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from benchmark.datasets.base import Dataset, register_dataset
from methods.core.frames import PairedFrames
from methods.core.options import build_options


def parsed(options_class: type, **sections: dict):
    """``options_class`` built from section tables, as a profile's are."""
    return build_options(options_class, sections, options_class.__name__)


def toy_frames(identities: int = 10, per_identity: int = 6, size=(16, 8), seed: int = 0
               ) -> PairedFrames:
    """Each identity: a base grey level shared by RGB and depth, plus per-frame noise."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(identities), per_identity)
    level = rng.uniform(30, 220, identities)[pids]
    h, w = size
    rgb = np.clip(level[:, None, None, None] + rng.normal(0, 12, (len(pids), h, w, 3)),
                  0, 255).astype(np.uint8)
    depth = (2000 + 10 * level[:, None, None]
             + rng.normal(0, 60, (len(pids), h, w))).astype(np.uint16)
    return PairedFrames(pids=pids.astype(np.int64),
                        sequences=(np.arange(len(pids)) % 2).astype(np.int64),
                        frames=np.arange(len(pids), dtype=np.int64), rgb=rgb, depth=depth)


@pytest.fixture
def one_torch_thread():
    """One torch thread: small networks run faster and do not fight other jobs for cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@dataclass(frozen=True)
class ToyOptions:
    identities: int = 12
    frames_per_identity: int = 6
    seed: int = 0


@register_dataset("toy")
class ToyDataset(Dataset):
    """The toy data set, registered for runner tests."""

    Options = ToyOptions

    def build(self, size):
        o = self.options
        return toy_frames(o.identities, o.frames_per_identity, tuple(size), o.seed)


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """No test reads or writes the user's cache (~/.cache/rgbd-bench)."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("RGBD_BENCH_CACHE", str(cache))
    return cache


@pytest.fixture
def toy_profile_file(tmp_path):
    path = tmp_path / "toy.toml"
    path.write_text("""
[run]
dataset = "toy"
methods = ["pixels-euclidean"]
folds = 2
trials = 3
image_size = [16, 8]

[dataset]
identities = 12
""")
    return path

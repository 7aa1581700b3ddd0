"""The smoke profile can tell a working network from a broken one: trained networks beat
chance there by a clear margin, in one modality and across modalities; a network whose
embedding says nothing about the image does not.

One run of fold 0 holds all four methods, so the fixed trunk's features are computed
once for both tests."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile
from methods.core import registry
from methods.core.registry import get_method, register
from methods.deep.trained import torch_threads

SINGLE_MODAL = "resnet-rgb-softmax"
CROSS_MODAL = "one-stream"
BROKEN = {SINGLE_MODAL: "smoke-random-embedding", CROSS_MODAL: "smoke-random-cross-modal"}
MARGIN = 0.10  # single-modal rank-1 above chance (1 / test identities)
# Cross-modal rank-1 (mean of both directions) as a multiple of chance. On smoke's 24
# test identities, over 2 folds x 8 run seeds (tests/smoke_calibration.py --seeds 0-7),
# a working one-stream network reached 2.19x on average and 1.74x at worst (each
# direction alone 1.68x at worst); a random embedding 0.97x, 1.21x at most.
WORKS, BROKEN_BELOW = 1.5, 1.3
CROSS_SETTINGS = ("rgb->depth", "depth->rgb")


def broken(method: str) -> type:
    """``method`` with an embedding that ignores its input: what a collapsed or
    disconnected network amounts to. It trains nothing."""

    class RandomEmbedding(get_method(method)):
        def fit(self, train, val):
            self.rng = np.random.default_rng(self.context.seed)
            return self

        def embed(self, images, modality):
            return self.rng.normal(size=(len(images), 16))

    return RandomEmbedding


def run_smoke(methods: list[str], paths: Paths, *settings: str) -> list[dict]:
    """Records of ``methods`` (built-in or :data:`BROKEN` names) on smoke with
    ``settings``, in one torch thread: small networks run faster and do not fight other
    jobs for cores. The broken methods are registered for the run only."""
    for method, name in BROKEN.items():
        register(name)(broken(method))
    try:
        names = ", ".join(f'"{m}"' for m in methods)
        profile = load_profile("smoke", [f"run.methods=[{names}]", *settings])
        with torch_threads(1):
            return run_profile(plan_run(profile), paths, quiet=True)
    finally:
        for name in BROKEN.values():
            registry._REGISTRY.pop(name)


def chance(record: dict) -> float:
    """Rank-1 of a random ranking: one over the record's test identities."""
    return 1 / len(record["config"]["fold"]["test"])


@pytest.fixture(scope="module")
def smoke_rank1(tmp_path_factory) -> tuple[dict[str, dict[str, float]], float]:
    """Rank-1 of every (method, setting) on fold 0 of smoke, and chance."""
    root = tmp_path_factory.mktemp("smoke")
    records = run_smoke([*BROKEN, *BROKEN.values()], Paths(root / "out", root / "cache"),
                        "run.folds=1")
    rank1 = {r["method"]: {s: v["rank1"] for s, v in r["results"].items()} for r in records}
    return rank1, chance(records[0])


def test_smoke_tells_a_working_network_from_a_broken_one(smoke_rank1):
    rank1, chance = smoke_rank1
    working, random = (rank1[m]["rgb->rgb"] for m in (SINGLE_MODAL, BROKEN[SINGLE_MODAL]))
    assert working >= chance + MARGIN, (working, chance)
    assert random < chance + MARGIN / 2, (random, chance)


def test_smoke_tells_a_working_cross_modal_network_from_a_broken_one(smoke_rank1):
    """One-stream's cross-modal rank-1 is well above chance (and above it each way), a
    random embedding's is not.

    The clear margin is asked of the mean of the two directions, and each alone need only
    beat chance: both rank the same query-gallery distances (Euclidean, symmetric) from
    either side, so they are two views of one embedding rather than two pieces of
    evidence, and a collapsed network fails both alike; their mean averages out half of
    the single-shot gallery noise, which on 24 test identities is what separates a
    working network from chance.
    """
    rank1, chance = smoke_rank1
    working, random = (np.mean([rank1[m][s] for s in CROSS_SETTINGS])
                       for m in (CROSS_MODAL, BROKEN[CROSS_MODAL]))
    assert working >= WORKS * chance, (rank1[CROSS_MODAL], chance)
    assert min(rank1[CROSS_MODAL][s] for s in CROSS_SETTINGS) > chance, rank1[CROSS_MODAL]
    assert random < BROKEN_BELOW * chance, (rank1[BROKEN[CROSS_MODAL]], chance)

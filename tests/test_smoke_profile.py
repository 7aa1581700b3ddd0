"""The smoke profile can tell a working network from a broken one: a trained
single-modal network beats chance there by a clear margin, a network whose embedding
says nothing about the image does not."""

import numpy as np
import pytest

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile
from methods.core import registry
from methods.core.registry import get_method, register

WORKING = "resnet-rgb-softmax"
BROKEN = "smoke-random-embedding"
MARGIN = 0.10  # rank-1, above chance (1 / test identities)


@pytest.fixture
def broken_network():
    """The working method with an embedding that ignores its input: what a collapsed or
    disconnected network amounts to. It trains nothing."""

    class RandomEmbedding(get_method(WORKING)):
        def fit(self, train, val):
            self.rng = np.random.default_rng(self.context.seed)
            return self

        def embed(self, images, modality):
            return self.rng.normal(size=(len(images), 16))

    register(BROKEN)(RandomEmbedding)
    yield
    registry._REGISTRY.pop(BROKEN)


def test_smoke_tells_a_working_network_from_a_broken_one(broken_network, tmp_path,
                                                          one_torch_thread):
    profile = load_profile("smoke", [f'run.methods=["{WORKING}", "{BROKEN}"]', "run.folds=1"])
    records = run_profile(plan_run(profile), Paths(tmp_path / "out", tmp_path / "cache"),
                          quiet=True)
    rank1 = {r["method"]: r["results"]["rgb->rgb"]["rank1"] for r in records}
    chance = 1 / len(records[0]["config"]["fold"]["test"])
    assert rank1[WORKING] >= chance + MARGIN, (rank1, chance)
    assert rank1[BROKEN] < chance + MARGIN / 2, (rank1, chance)

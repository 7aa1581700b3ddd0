"""load_or_train: trains once under a key, loads afterwards, and two callers that need
the same network at once share one training."""

import threading
import time

import pytest
import torch
from torch import nn

from methods.deep.trained import load_or_train


class Calls:
    """build/train callbacks for a 2x2 linear layer, counting what was done."""

    def __init__(self, pause: float = 0.0) -> None:
        self.built: list[object] = []
        self.trained = 0
        self.pause = pause

    def build(self, meta):
        self.built.append(meta)
        return nn.Linear(2, 2)

    def train(self, network):
        self.trained += 1
        time.sleep(self.pause)
        with torch.no_grad():
            network.weight.add_(1.0)
        return network, {"trained": self.trained}


def test_trains_once_then_loads_the_stored_weights(tmp_path) -> None:
    calls = Calls()
    first, path = load_or_train(tmp_path, "net.pt", calls.build, calls.train, seed=3)
    again, same_path = load_or_train(tmp_path, "net.pt", calls.build, calls.train, seed=3)
    assert calls.trained == 1 and same_path == path and path.is_file()
    assert calls.built == [None, {"trained": 1}]
    torch.testing.assert_close(again.state_dict(), first.state_dict(), rtol=0, atol=0)
    torch.manual_seed(3)
    fresh = nn.Linear(2, 2)  # the seeded initialisation, before training added 1
    torch.testing.assert_close(first.weight, fresh.weight + 1.0, rtol=0, atol=0)


def test_two_callers_at_once_share_one_training(tmp_path) -> None:
    calls = Calls(pause=0.5)
    results = []

    def call() -> None:
        results.append(load_or_train(tmp_path, "net.pt", calls.build, calls.train, seed=0))

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls.trained == 1 and sorted(map(str, calls.built)) == ["None", "{'trained': 1}"]
    torch.testing.assert_close(results[0][0].state_dict(), results[1][0].state_dict(),
                               rtol=0, atol=0)


def test_a_failed_training_stores_nothing(tmp_path) -> None:
    def broken(network):
        raise RuntimeError("out of memory")

    calls = Calls()
    with pytest.raises(RuntimeError, match="out of memory"):
        load_or_train(tmp_path, "net.pt", calls.build, broken, seed=0)
    assert not (tmp_path / "net.pt").exists()
    load_or_train(tmp_path, "net.pt", calls.build, calls.train, seed=0)
    assert calls.trained == 1 and (tmp_path / "net.pt").is_file()

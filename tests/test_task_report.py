"""A run says, per task, what it trained, computed or loaded, and from which artifact."""

import logging

import pytest

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile
from methods.core.context import artifact_state

TOY_DEEP = """
[run]
dataset = "toy"
methods = ["resnet-rgb-softmax", "pixels-euclidean"]
folds = 1
trials = 2
image_size = [16, 8]

[dataset]
identities = 12

[options.deep.network]
arch = "resnet10"
height = 16
width = 8

[options.deep.selection]
epochs = 1
eval_every = 1
eval_schedule = "end-of-period"

[options.deep.softmax]
batch_size = 16
"""


@pytest.mark.parametrize(("before", "after", "state"), [
    ({}, {"network.pt": (5, 1)}, "trained"),
    ({}, {"chunk-a.npz": (5, 1)}, "computed"),
    ({"network.pt": (5, 1)}, {"network.pt": (5, 1)}, "loaded"),
    ({"network.pt": (5, 1)}, {"network.pt": (5, 2)}, "trained"),  # forced: replaced
    ({"chunk-a.npz": (5, 1)}, {"chunk-a.npz": (5, 1), "chunk-b.npz": (3, 2)}, "extended"),
    ({"chunk-a.npz": (5, 1)}, {"chunk-b.npz": (3, 2)}, "computed"),  # cleared, recomputed
])
def test_artifact_state_compares_what_the_folder_held(before, after, state):
    assert artifact_state(before, after) == state


def _run(tmp_path, caplog, *overrides, force=False):
    path = tmp_path / "toy-deep.toml"
    path.write_text(TOY_DEEP)
    plan = plan_run(load_profile(str(path), list(overrides)))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rgbd_bench"):
        records = run_profile(plan, Paths(tmp_path / "out", tmp_path / "cache"), quiet=True,
                              force=force)
    lines = {r.getMessage().split(" fold ")[0]: r.getMessage() for r in caplog.records
             if " fold 0: " in r.getMessage()}
    return {r["method"]: r for r in records}, lines


def test_task_lines_and_records_say_trained_loaded_and_forced(tmp_path, caplog,
                                                              one_torch_thread):
    records, lines = _run(tmp_path, caplog)
    network = records["resnet-rgb-softmax"]["artifact_use"]
    assert [u["state"] for u in network] == ["trained"]
    folder = network[0]["artifact"]
    assert folder in records["resnet-rgb-softmax"]["artifacts"]
    assert "deep-network" in folder
    short = folder.split("/", 1)[1]
    assert f"resnet-rgb-softmax fold 0: trained {short};" in lines["resnet-rgb-softmax"]
    assert records["pixels-euclidean"]["artifact_use"] == []
    assert "computed, nothing stored" in lines["pixels-euclidean"]

    # One more trial: a new record, the stored network loaded and only re-evaluated.
    records, lines = _run(tmp_path, caplog, "run.trials=3")
    assert records["resnet-rgb-softmax"]["artifact_use"] == [
        {"artifact": folder, "state": "loaded"}]
    assert f"re-evaluated (loaded {short})" in lines["resnet-rgb-softmax"]

    # The same after deleting the record of the first run.
    for record in (tmp_path / "out").rglob("resnet-rgb-softmax/fold0-*.json"):
        record.unlink()
    records, lines = _run(tmp_path, caplog)
    assert records["resnet-rgb-softmax"]["artifact_use"][0]["state"] == "loaded"

    # --force trains it again.
    records, lines = _run(tmp_path, caplog, force=True)
    assert records["resnet-rgb-softmax"]["artifact_use"] == [
        {"artifact": folder, "state": "trained"}]
    assert f"fold 0: trained {short};" in lines["resnet-rgb-softmax"]

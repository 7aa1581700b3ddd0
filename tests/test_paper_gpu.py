"""The one-call GPU measurement: its grid schedule by hand, and the whole call on a CPU."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.paper_gpu import (
    DISTILLATION,
    PRECISIONS,
    STEP_I,
    grid_makespan,
    main,
    measure_throughput,
)


def test_makespan_of_a_chain_by_hand() -> None:
    seconds, needs = {"f": 2.0, "g": 1.0}, {"g": ["f"]}
    assert grid_makespan(seconds, needs, copies=2, gpus=1) == 6.0
    assert grid_makespan(seconds, needs, copies=2, gpus=2) == 3.0
    # more GPUs than tasks cannot beat the chain f -> g
    assert grid_makespan(seconds, needs, copies=2, gpus=8) == 3.0


def test_makespan_puts_the_longest_ready_task_first() -> None:
    # a (3 s) and b, c (2 s each) on 2 GPUs: a | b then c -> 4 s (b, c first would give 5)
    assert grid_makespan({"a": 3.0, "b": 2.0, "c": 2.0}, {}, copies=1, gpus=2) == 4.0
    # a dependent task waits for its input even when a GPU is free
    assert grid_makespan({"a": 1.0, "b": 5.0, "c": 1.0}, {"c": ["b"]}, copies=1, gpus=3) == 6.0


def test_makespan_waits_for_the_whole_previous_wave_as_the_executor_does() -> None:
    # g needs only f (1 s), but its wave starts after h (4 s) ends: 4 + 1, not 4
    assert grid_makespan({"f": 1.0, "h": 4.0, "g": 1.0}, {"g": ["f"]}, copies=1, gpus=2) == 5.0


def test_throughput_covers_each_loss_and_precision() -> None:
    rows = measure_throughput("cpu", "resnet10", 32, 16, batch_size=8, iterations=1,
                              repeats=1)
    assert {(r["loss"], r["precision"]) for r in rows} == {
        (loss, p) for loss in ("softmax", "triplet") for p in PRECISIONS}
    assert {(r["amp"], r["tf32"]) for r in rows} == set(PRECISIONS.values())
    assert all(r["bare_images_per_s"] > 0 for r in rows)


def test_the_one_call_runs_end_to_end_on_a_cpu(tmp_path: Path) -> None:
    main(["--output", str(tmp_path), "--device", "cpu", "--profile", "smoke",
          "--skip-throughput", "--gpus", "1", "2", "--set", "dataset.identities=8",
          "--set", "dataset.frames_per_identity=4"])
    records = (tmp_path / "records").rglob("fold*.json")
    assert {json.loads(p.read_text())["method"] for p in records} == set(STEP_I + DISTILLATION)
    cost = (tmp_path / "cost.md").read_text()
    one, two = (float(cell.split()[0]) for cell in cost.splitlines()[-1].split("|")[3:5])
    assert 0 < two <= one

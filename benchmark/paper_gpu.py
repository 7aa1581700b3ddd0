"""One call that measures the ``paper`` profile on a GPU and prices its full grid.

``python -m benchmark.paper_gpu --output OUT`` (on the GPU machine, from the checkout):

1. times one training step of ResNet-50 at 256x128, batch 64, softmax and triplet, in
   true fp32, with TF32 and under bfloat16 autocast (:func:`methods.deep.training_speed.
   measure_training_speed`), into ``OUT/throughput.json``;
2. runs ``paper`` on the synthetic data set, one fold, ``--trials 10``, every step-I
   method and every distillation method, with ``pretrained = "none"`` unless
   ``--pretrained`` names a local weights file (a GPU machine without internet cannot
   download torchvision's ImageNet weights), records under ``OUT/records``;
3. prices the full grid (both data sets, 3 folds) on 1 and N GPUs from the run's
   per-task seconds, scaled by each data set's training frames, run in waves as the
   Slurm executor runs them, into ``OUT/cost.md`` (:func:`grid_makespan`).

Every figure says what it was measured with; the cost is an estimate and says so.
"""

from __future__ import annotations

import argparse
import heapq
import json
import subprocess
import sys
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from methods.api import measure_training_speed
from methods.core.registry import get_method

STEP_I = ("resnet-rgb-softmax", "resnet-rgb-triplet", "resnet-depth-softmax",
          "resnet-depth-triplet", "zero-padding", "one-stream")
DISTILLATION = ("distill-depth2rgb-softmax", "distill-depth2rgb-triplet",
                "distill-rgb2depth-softmax", "distill-rgb2depth-triplet")
PRECISIONS = {"fp32": (False, False), "tf32": (False, True), "bf16-autocast": (True, False)}
# Training frames per modality and fold: BIWI's 32 training identities of the authors'
# 22,038 prepared frames over 78 identities; RobotPKU's 40 of 90 identities, taken as two
# thirds of BIWI's frames (an estimate: its prepared frame count is not measured here).
TRAIN_FRAMES = {"biwi": 9_000, "robotpku": 6_000}
FOLDS = 3


def measure_throughput(device: str, arch: str = "resnet50", height: int = 256,
                       width: int = 128, batch_size: int = 64, iterations: int = 20,
                       repeats: int = 3) -> list[dict[str, Any]]:
    """Images/s of one training step for each loss and precision (see the module)."""
    rows = []
    for loss in ("softmax", "triplet"):
        for precision, (amp, tf32) in PRECISIONS.items():
            row = measure_training_speed(arch, height, width, batch_size, loss, "rgb",
                                         iterations, repeats, device, amp=amp, tf32=tf32)
            rows.append({"precision": precision, **row})
    return rows


def run_paper(output: Path, cache: Path, methods: Sequence[str], profile: str = "paper",
              trials: int = 10, pretrained: str = "none",
              settings: Sequence[str] = ()) -> None:
    """Run ``profile`` on synthetic data, one fold, as a user would (``benchmark run``)."""
    argv = [sys.executable, "-m", "benchmark", "run", "--profile", profile,
            "--dataset", "synthetic", "--folds", "1", "--trials", str(trials),
            "--methods", ",".join(methods), "--output", str(output), "--cache", str(cache),
            "--quiet", "--set", f"options.deep.network.pretrained={json.dumps(pretrained)}"]
    for setting in settings:
        argv += ["--set", setting]
    subprocess.run(argv, check=True)


def task_seconds(records: Path) -> dict[str, float]:
    """Each method's task time in seconds (``timings.total_s``) over the records found."""
    seconds: dict[str, float] = {}
    for path in sorted(records.rglob("fold*.json")):
        record = json.loads(path.read_text())
        seconds[record["method"]] = float(record["timings"]["total_s"])
    return seconds


def train_frames(records: Path) -> int:
    """Training frames per modality of the run's fold (a record's ``counts.train``)."""
    for path in sorted(records.rglob("fold*.json")):
        counts = json.loads(path.read_text()).get("counts", {})
        if "train" in counts:
            return int(counts["train"])
    raise ValueError(f"no record under {records} says how many training frames it had")


def grid_makespan(seconds: Mapping[Hashable, float],
                  needs: Mapping[Hashable, Sequence[Hashable]], copies: int, gpus: int
                  ) -> float:
    """Wall-clock seconds of ``copies`` independent grids (data set x fold) of the tasks in
    ``seconds`` on ``gpus`` GPUs, run as the Slurm executor runs a plan: in waves (a task
    one wave after the last task it ``needs``), each wave started once the previous one has
    ended and its tasks placed longest first onto the GPU free soonest."""
    waves: dict[Hashable, int] = {}

    def wave(task: Hashable) -> int:
        if task not in waves:
            waves[task] = 1 + max((wave(need) for need in needs.get(task, ())), default=-1)
        return waves[task]

    end = 0.0
    for level in sorted({wave(task) for task in seconds}):
        durations = [s for task, s in seconds.items() if waves[task] == level] * copies
        free = [end] * gpus
        for duration in sorted(durations, reverse=True):
            heapq.heappush(free, heapq.heappop(free) + duration)
        end = max(free)
    return end


def cost_table(seconds: Mapping[str, float], frames: int, gpu_counts: Sequence[int],
               datasets: Mapping[str, int] = TRAIN_FRAMES) -> str:
    """A Markdown table of the full grid's hours on each GPU count, per data set and with
    both data sets' tasks sharing the GPUs."""
    needs = {name: [n for n in get_method(name).requires if n in seconds] for name in seconds}
    scaled = {(dataset, name): s * count / frames
              for dataset, count in datasets.items() for name, s in seconds.items()}
    scaled_needs = {(dataset, name): [(dataset, n) for n in needs[name]]
                    for dataset, name in scaled}
    rows = [(dataset, str(count), {k: s for k, s in scaled.items() if k[0] == dataset})
            for dataset, count in datasets.items()] + [("both", "", scaled)]
    lines = ["| data set | train frames | " + " | ".join(f"{n} GPU" for n in gpu_counts) + " |",
             "|---" * (len(gpu_counts) + 2) + "|"]
    for label, count, tasks in rows:
        hours = [grid_makespan(tasks, scaled_needs, FOLDS, n) / 3600 for n in gpu_counts]
        lines.append(f"| {label} | {count} | " + " | ".join(f"{h:.2f} h" for h in hours) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Run the three steps of the module docstring and write their files."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--profile", default="paper")
    parser.add_argument("--pretrained", default="none",
                        help="trunk weights: none (default) or a local weights file")
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--set", action="append", default=[], dest="settings",
                        help="passed on to benchmark run")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    if not args.skip_throughput:
        rows = measure_throughput(args.device, args.arch, args.height, args.width,
                                  iterations=args.iterations)
        (out / "throughput.json").write_text(json.dumps(rows, indent=1))
        for row in rows:
            print(f"{row['loss']:8s} {row['precision']:14s} "
                  f"{row['bare_images_per_s']:9.1f} images/s (step), "
                  f"{row['loop_images_per_s']:9.1f} (loop)")
    run_paper(out, out / "cache", STEP_I + DISTILLATION, args.profile,
              pretrained=args.pretrained, settings=args.settings)
    records = out / "records"
    seconds, frames = task_seconds(records), train_frames(records)
    table = cost_table(seconds, frames, args.gpus)
    per_task = "\n".join(f"| {name} | {s:.1f} |" for name, s in sorted(seconds.items()))
    (out / "cost.md").write_text(
        f"Measured: `{args.profile}` on synthetic data ({frames} training frames per "
        f"modality), one fold, trunk weights `{args.pretrained}`, device `{args.device}`.\n\n"
        f"| task | seconds |\n|---|---|\n{per_task}\n\n"
        f"Estimated full grid ({FOLDS} folds), each task's seconds scaled by training "
        f"frames, run in waves on N GPUs as the Slurm executor runs them:\n\n{table}\n")
    print((out / "cost.md").read_text())


if __name__ == "__main__":
    main()

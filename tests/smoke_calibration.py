"""Where test_smoke_profile.py's thresholds come from: one-stream and a random embedding
on the smoke profile over several run seeds and both folds, as multiples of chance.

    python tests/smoke_calibration.py --seeds 0-7 --work /tmp/smoke-calibration

prints one line per (seed, fold, method) with both cross-modal rank-1s, then each
method's mean, lowest and highest ratio of their mean to chance.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_smoke_profile import BROKEN, CROSS_MODAL, CROSS_SETTINGS, broken  # noqa: E402

from benchmark.runs.config import load_profile  # noqa: E402
from benchmark.runs.planner import plan_run  # noqa: E402
from benchmark.runs.runner import Paths, run_profile  # noqa: E402
from methods.core.registry import register  # noqa: E402


def seed_range(text: str) -> list[int]:
    """``"0-7"`` or ``"0,3,5"`` as a list of seeds."""
    if "-" in text:
        first, last = (int(part) for part in text.split("-"))
        return list(range(first, last + 1))
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_range, default=seed_range("0-7"))
    parser.add_argument("--work", type=Path, required=True, help="output and cache folder")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a profile setting over smoke's, as run --set takes it")
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = [CROSS_MODAL, BROKEN[CROSS_MODAL]]
    register(methods[1])(broken(CROSS_MODAL))
    ratios: dict[str, list[float]] = {m: [] for m in methods}
    for seed in args.seeds:
        names = ", ".join(f'"{m}"' for m in methods)
        profile = load_profile("smoke", [f"run.methods=[{names}]", f"run.seed={seed}", *args.set])
        paths = Paths(args.work / f"seed-{seed}", args.work / "cache")
        for record in run_profile(plan_run(profile), paths, quiet=True):
            chance = 1 / len(record["config"]["fold"]["test"])
            rank1 = [record["results"][s]["rank1"] for s in CROSS_SETTINGS]
            ratios[record["method"]].append(np.mean(rank1) / chance)
            print(f"seed {seed} fold {record['fold']} {record['method']:26s} "
                  f"chance {100 * chance:.1f} % " + " ".join(
                      f"{s} {100 * r:.1f} %" for s, r in zip(CROSS_SETTINGS, rank1, strict=True))
                  + f"  mean/chance {ratios[record['method']][-1]:.2f}", flush=True)
    for method, values in ratios.items():
        print(f"{method}: mean/chance over {len(values)} runs: mean {np.mean(values):.2f}, "
              f"lowest {np.min(values):.2f}, highest {np.max(values):.2f}")


if __name__ == "__main__":
    main()

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

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_smoke_profile import BROKEN, CROSS_MODAL, CROSS_SETTINGS, chance, run_smoke  # noqa: E402

from benchmark.runs.runner import Paths  # noqa: E402


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
    methods = [CROSS_MODAL, BROKEN[CROSS_MODAL]]
    ratios: dict[str, list[float]] = {m: [] for m in methods}
    for seed in args.seeds:
        paths = Paths(args.work / f"seed-{seed}", args.work / "cache")
        for record in run_smoke(methods, paths, f"run.seed={seed}", *args.set):
            rank1 = {s: record["results"][s]["rank1"] for s in CROSS_SETTINGS}
            ratio = np.mean(list(rank1.values())) / chance(record)
            ratios[record["method"]].append(ratio)
            directions = " ".join(f"{s} {100 * r:.1f} %" for s, r in rank1.items())
            print(f"seed {seed} fold {record['fold']} {record['method']:26s} chance "
                  f"{100 * chance(record):.1f} % {directions}  mean/chance {ratio:.2f}",
                  flush=True)
    for method, values in ratios.items():
        print(f"{method}: mean/chance over {len(values)} runs: mean {np.mean(values):.2f}, "
              f"lowest {np.min(values):.2f}, highest {np.max(values):.2f}")


if __name__ == "__main__":
    main()

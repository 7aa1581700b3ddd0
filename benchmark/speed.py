"""``rgbd-bench speed``: images/s of the feature extractors and of deep training here."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np


def images_per_second(function: Callable[[np.ndarray], object], images: np.ndarray,
                      repeats: int = 3) -> float:
    """Best-of-``repeats`` throughput of ``function`` on one batch (after one warm-up)."""
    function(images[:8])
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function(images)
        best = min(best, time.perf_counter() - start)
    return len(images) / best


def feature_speeds(batch: int = 500, repeats: int = 3, seed: int = 0) -> dict[str, float]:
    """LOMO (with and without Retinex) and WHOS images/s on random 128x48 RGB batches."""
    from features import lomo, whos

    images = np.random.default_rng(seed).integers(0, 256, (batch, 128, 48, 3), dtype=np.uint8)
    return {"lomo": images_per_second(lomo, images, repeats),
            "lomo (retinex off)": images_per_second(lambda x: lomo(x, retinex=False), images,
                                                    repeats),
            "whos": images_per_second(whos, images, repeats)}


def main(quick: bool = False) -> int:
    """Print every speed figure with the machine it was measured on."""
    import torch

    from methods.api import measure_training_speed

    print(f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}")
    batch, repeats = (100, 1) if quick else (500, 3)
    for name, value in feature_speeds(batch, repeats).items():
        print(f"{name:24s} {value:8.1f} images/s  (batch {batch} of 128x48)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    setups = [("resnet10", 64, 32, 64)] if device == "cpu" else [("resnet50", 256, 128, 64)]
    for arch, height, width, batch_size in setups:
        for loss in ("softmax", "triplet"):
            result = measure_training_speed(arch, height, width, batch_size, loss, "depth",
                                            iterations=3 if quick else 10,
                                            repeats=1 if quick else 3, device=device)
            print(f"{arch} {height}x{width} {loss:8s} loop {result['loop_images_per_s']:8.1f}"
                  f" images/s, bare {result['bare_images_per_s']:8.1f} images/s, overhead "
                  f"{100 * result['overhead']:.1f}% ({device}, batch {batch_size})")
    return 0

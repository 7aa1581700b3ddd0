"""How much the deep training loop costs on top of the network itself.

Measures images/s of training epochs of the shared engine (sampling, reading crops from
memory-mapped arrays, on-device encoding and augmentation, optimiser step,
bookkeeping) against the bare forward + backward + step throughput of the same model,
batch and optimiser on one fixed, already prepared batch. The difference is the
loop's overhead.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from methods.core.frames import PairedFrames
from methods.deep.augment import Augmentation
from methods.deep.engine import SoftmaxEngine, TripletEngine, float32_precision, seeded
from methods.deep.inputs import InputEncoder, Pipeline, SampleSet, fetch
from methods.deep.networks import build_network
from methods.deep.option_sections import DeepOptions, NumericsOptions, SoftmaxRecipe, TripletRecipe


def memory_mapped_frames(folder: Path, identities: int = 32, per_identity: int = 40,
                         crop: tuple[int, int] = (128, 64), seed: int = 0) -> PairedFrames:
    """Random crops written to ``.npy`` files and memory-mapped, like the crop cache."""
    rng = np.random.default_rng(seed)
    n = identities * per_identity
    arrays = {
        "rgb": rng.integers(0, 256, (n, *crop, 3), dtype=np.uint8),
        "depth": rng.integers(500, 6000, (n, *crop)).astype(np.uint16),
    }
    mapped = {}
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
        mapped[name] = np.load(folder / f"{name}.npy", mmap_mode="r")
    return PairedFrames(np.repeat(np.arange(identities), per_identity), np.zeros(n, np.int64),
                        np.arange(n, dtype=np.int64), mapped["rgb"], mapped["depth"])


def _synchronise(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def measure_training_speed(arch: str = "resnet18", height: int = 64, width: int = 32,
                           batch_size: int = 32, loss: str = "softmax",
                           modality: str = "depth", iterations: int = 10, repeats: int = 3,
                           device: str = "cpu", frames: PairedFrames | None = None,
                           seed: int = 0, amp: bool = False, tf32: bool = False
                           ) -> dict[str, Any]:
    """Images/s of the engine's training loop and of bare training steps.

    Args:
        arch: the backbone architecture of the network.
        height: network input height.
        width: network input width.
        seed: seed of the network's initialisation and of its batches.
        batch_size: images per batch (triplet: P = batch_size / 4, K = 4).
        loss: ``"softmax"`` or ``"triplet"``.
        modality: training images (``"depth"`` includes the depth encoding).
        iterations: batches per timed run; each run is preceded by warm-up batches.
        repeats: alternating runs of both; the fastest run of each counts.
        device: ``"cpu"`` or ``"cuda"``.
        frames: the crops to read (default: random crops, 128x64, memory-mapped).
        amp: bfloat16 autocast on a GPU (the ``amp`` deep option).
        tf32: without ``amp``, allow TF32 convolutions and matmuls (the ``tf32`` deep
            option; ``False`` times true fp32).

    Returns:
        ``loop_images_per_s``, ``bare_images_per_s``, ``overhead`` (fraction of the
        loop's time not spent in bare training steps), ``input_ms_per_batch`` (reading
        plus preparing one batch alone) and the settings.
    """
    with tempfile.TemporaryDirectory() as tmp, float32_precision(amp, tf32):
        frames = frames if frames is not None else memory_mapped_frames(Path(tmp))
        samples = SampleSet.of(frames, [modality])
        pipeline = Pipeline(InputEncoder(), (height, width), device)
        recipe = (SoftmaxRecipe(lr=0.01, batch_size=batch_size) if loss == "softmax" else
                  TripletRecipe(lr=0.01, p=max(2, batch_size // 4), k=4, identity_epochs=False))
        options = DeepOptions(augmentation=Augmentation("rect-crop", True, 0.5),
                              numerics=NumericsOptions(amp, tf32))
        config = options.engine_config(recipe, epochs=1, iterations_per_epoch=iterations,
                                       lr_step=0)
        engine_cls = SoftmaxEngine if loss == "softmax" else TripletEngine
        with seeded(seed, device):
            model = build_network(arch, loss, num_classes=samples.num_classes)
            engine = engine_cls(model, samples, pipeline, config, seed=seed, quiet=True)
            batch_images = engine.sampler.batch_size
            fixed = pipeline.train_batch(fetch(samples, next(engine.sampler.batches(1))),
                                         config.augmentation, engine.augment_rng)

            def bare() -> float:
                _synchronise(device)
                start = time.perf_counter()
                for _ in range(iterations):
                    engine.train_step(fixed)
                _synchronise(device)
                return time.perf_counter() - start

            def loop() -> float:
                _synchronise(device)
                start = time.perf_counter()
                engine.train_epoch()
                _synchronise(device)
                return time.perf_counter() - start

            def inputs() -> float:
                start = time.perf_counter()
                for index in engine.sampler.batches(iterations):
                    batch = pipeline.train_batch(fetch(samples, index), config.augmentation,
                                                 engine.augment_rng)
                _synchronise(device)
                del batch
                return (time.perf_counter() - start) / iterations

            for _ in range(3):
                engine.train_step(fixed)
            bare_s, loop_s, input_s = [], [], []
            for _ in range(repeats):
                bare_s.append(bare())
                loop_s.append(loop())
                input_s.append(inputs())
    bare_rate = iterations * batch_images / min(bare_s)
    loop_rate = iterations * batch_images / min(loop_s)
    return {
        "arch": arch, "input_size": [height, width], "batch_size": batch_images,
        "loss": loss, "modality": modality, "device": device, "amp": amp,
        "tf32": tf32,
        "iterations": iterations,
        "threads": torch.get_num_threads(),
        "bare_images_per_s": round(bare_rate, 1),
        "loop_images_per_s": round(loop_rate, 1),
        "overhead": round(1.0 - loop_rate / bare_rate, 4),
        "input_ms_per_batch": round(1000 * min(input_s), 2),
    }


def main(argv: list[str] | None = None) -> None:
    """Print :func:`measure_training_speed`'s result as JSON (a list for several archs)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["resnet18"],
                        help="one or more backbones (e.g. resnet10 efficientnet-lite0); "
                             "several are timed in turn and printed as a list")
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--loss", choices=("softmax", "triplet"), default="softmax")
    parser.add_argument("--modality", choices=("rgb", "depth"), default="depth")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", action="store_true", help="bfloat16 autocast on a GPU")
    parser.add_argument("--tf32", action="store_true",
                        help="without --amp, allow TF32 (default: true fp32)")
    args = parser.parse_args(argv)
    results = [measure_training_speed(arch, args.height, args.width, args.batch_size,
                                      args.loss, args.modality, args.iterations, args.repeats,
                                      args.device, amp=args.amp, tf32=args.tf32)
               for arch in args.arch]
    print(json.dumps(results[0] if len(results) == 1 else results, indent=2))


if __name__ == "__main__":
    main()

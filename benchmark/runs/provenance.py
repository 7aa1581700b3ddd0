"""Where a number came from: versions, commit, date, machine (CPU, SIMD, BLAS, threads)."""

from __future__ import annotations

import datetime
import functools
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

_PACKAGES = ("rgbd-crossmodal-bench", "numpy", "scipy", "torch", "torchvision",
             "scikit-image", "opencv-python-headless", "pandas")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that can change the numbers."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


# The files whose content can change a number; edits elsewhere (README, results/, tests)
# do not mark a run's commit as dirty.
SOURCE_PATHS = (":/benchmark", ":/methods", ":/features", ":/pyproject.toml")


def git_commit(here: Path | None = None) -> str:
    """The commit of the source tree this package runs from (or of the repository holding
    ``here``), ``"unknown"`` outside git.

    ``-dirty`` is appended when the code (``SOURCE_PATHS``) differs from that commit.
    """
    here = Path(__file__).resolve().parent if here is None else here
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no",
                                "--", *SOURCE_PATHS],
                               cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@functools.cache
def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what the platform says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache
def numpy_simd() -> list[str]:
    """The SIMD targets numpy dispatches to on this CPU (after ``NPY_DISABLE_CPU_FEATURES``):
    the instruction-set level that decides the last bits of its ``log``, ``exp`` and sums."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:
        return []
    return [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]


@functools.cache
def blas() -> dict[str, str]:
    """The BLAS/LAPACK numpy and torch use."""
    found = {}
    try:
        import numpy as np

        config = np.show_config(mode="dicts")["Build Dependencies"]
        found["numpy"] = f"{config['blas']['name']} {config['blas'].get('version', '')}".strip()
    except (KeyError, TypeError, ImportError):
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        match = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
        found["torch"] = match.group(1) if match else "unknown"
        found["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    return found


# Environment variables that choose the SIMD kernels of numpy, OpenBLAS, torch (ATen,
# MKL, oneDNN) and OpenCV.
KERNEL_SETTINGS = ("NPY_DISABLE_CPU_FEATURES", "OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY",
                   "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "OPENCV_CPU_DISABLE")


def machine(compute: Any = None) -> dict[str, Any]:
    """The machine a task ran on: CPU model and SIMD level, BLAS, and the thread counts
    (``compute``: the task's compute options, whose ``num_threads`` it trained with)."""
    torch = sys.modules.get("torch")
    threads = {"cpus": os.cpu_count(),
               "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count(),
               "torch": torch.get_num_threads() if torch is not None else None,
               "training": getattr(compute, "num_threads", None),
               **{name: os.environ[name] for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "OPENBLAS_NUM_THREADS")
                  if name in os.environ}}
    return {"cpu": cpu_model(), "simd": numpy_simd(), "blas": blas(), "threads": threads,
            "kernel_settings": {name: os.environ[name] for name in KERNEL_SETTINGS
                                if name in os.environ}}


def machine_label(block: dict[str, Any]) -> str:
    """A record's machine in one short phrase (CPU, SIMD level, BLAS, threads)."""
    if not block:
        return "unknown machine"
    simd = block.get("simd") or ["baseline"]
    threads = block.get("threads", {})
    count = threads.get("training") or threads.get("torch")
    return (f"{block.get('cpu', '?')} [{simd[-1]}, {block.get('blas', {}).get('numpy', '?')}, "
            f"{count} thread(s)]")


def provenance(compute: Any = None) -> dict[str, object]:
    """The provenance block stored in every record and table (``compute``: the task's
    compute options, for its training thread count)."""
    return {"commit": git_commit(), "date": now_utc(), "host": platform.node(),
            "machine": platform.machine(), "versions": package_versions(),
            "hardware": machine(compute)}

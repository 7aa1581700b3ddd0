"""A folder of ``.npy`` arrays written atomically and read back memory-mapped."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from benchmark.errors import DatasetError

PIXELS = ("rgb", "depth")


def save_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as ``<name>.npy`` under a temporary name, then rename it to
    ``folder``, so an interrupted build never leaves a half-written folder behind."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
    try:
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", array)
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.is_dir():
            raise


def load_arrays(folder: Path, names: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    """The arrays of ``folder``: pixels memory-mapped, the rest in memory.
    DatasetError names the folder when one is unreadable."""
    try:
        arrays = {f: np.load(folder / f"{f}.npy", mmap_mode="r") for f in names}
    except (OSError, ValueError, EOFError) as error:
        raise DatasetError(f"the {what} {folder} is unreadable ({error}); delete that "
                           f"folder and run again to rebuild it") from error
    return {k: (v if k in PIXELS else np.asarray(v)) for k, v in arrays.items()}

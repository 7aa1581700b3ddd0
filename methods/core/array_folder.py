"""A folder of ``.npy`` arrays written atomically and read back memory-mapped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from methods.core.atomic import atomic_directory, write_json_atomic
from methods.core.errors import DatasetError

PIXELS = ("rgb", "depth", "masks")  # memory-mapped: the large ones
DIGEST_FILE = "digest.json"


def save_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as ``<name>.npy`` under a temporary name, then rename it to
    ``folder``, so an interrupted build never leaves a half-written folder behind (the
    free space is checked first; a full disk is one line naming the folder)."""
    arrays = {name: np.asarray(array) for name, array in arrays.items()}
    try:
        with atomic_directory(folder, sum(a.nbytes for a in arrays.values())) as tmp:
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", array)
    except OSError:  # another run built the same folder first
        if not folder.is_dir():
            raise


def load_arrays(folder: Path, names: tuple[str, ...], what: str,
                optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays of ``folder`` (``names``, and those of ``optional`` that exist): pixels
    memory-mapped, the rest in memory. DatasetError names the folder when one is
    unreadable."""
    present = tuple(f for f in optional if (folder / f"{f}.npy").is_file())
    try:
        arrays = {f: np.load(folder / f"{f}.npy", mmap_mode="r") for f in (*names, *present)}
    except (OSError, ValueError, EOFError) as error:
        raise DatasetError(f"the {what} {folder} is unreadable ({error}); delete that "
                           f"folder and run again to rebuild it") from error
    return {k: (v if k in PIXELS else np.asarray(v)) for k, v in arrays.items()}


def folder_digest(folder: Path) -> str:
    """A SHA-256 of the folder's arrays (each ``.npy`` file's name and bytes): the
    fingerprint of the data a run computes on. Computed once and kept beside them in
    ``digest.json``, so a later run reads 64 characters, not the crops."""
    folder = Path(folder)
    stored = folder / DIGEST_FILE
    try:
        return str(json.loads(stored.read_text())["sha256"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.npy")):
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    value = digest.hexdigest()
    try:
        write_json_atomic(stored, {"sha256": value})
    except OSError:  # a read-only cache: the digest is recomputed next time
        pass
    return value

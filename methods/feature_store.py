"""A content-addressed, on-disk cache of per-image features.

Every image is keyed by the SHA-1 of its bytes, shape and dtype (plus a caller-given
tag), so the same crop gets the same features whichever fold, split or method asks for
it; the folder the store lives in carries the extractor and its options (see
:meth:`methods.context.TaskContext.artifact_dir`). Features are written in chunks, one
``.npz`` file per batch, each written to a temporary name and then renamed: a reader (or
a concurrent task) never sees a partial chunk, and an interrupted extraction keeps the
batches it finished.
"""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from benchmark.atomic import atomic_path, require_space

CHUNK_GLOB = "chunk-*.npz"


def _chunk_bytes(first: np.ndarray, images: int) -> int:
    """The size of the chunks of ``images`` images, from the first batch's features
    (float32 values plus 40-character keys): checked before extracting the rest."""
    first = np.asarray(first)
    per_image = first[0].size * 4 + 40 * 4 if len(first) else 0
    return per_image * images


def image_keys(images: np.ndarray, tag: str = "") -> np.ndarray:
    """(n,) hex SHA-1 keys of the images along axis 0 of ``images``."""
    images = np.asarray(images)
    header = f"{tag}|{images.dtype.str}|{images.shape[1:]}|".encode()
    keys = [hashlib.sha1(header + np.ascontiguousarray(image).tobytes()).hexdigest()
            for image in images]
    return np.array(keys, dtype="U40")


class FeatureStore:
    """Features by image key, persisted as chunk files in ``directory``.

    Features are stored as float32 (a LOMO vector takes 105 KiB) and always returned as
    float64 rounded through float32, so a result never depends on whether a feature was
    just computed or read back.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[Path, int]] = {}
        self._scanned: set[Path] = set()

    def get(self, images: np.ndarray, compute: Callable[[np.ndarray], np.ndarray],
            tag: str = "", batch_size: int = 256,
            progress: Callable[[Iterable], Iterable] | None = None) -> np.ndarray:
        """(n, d) features of ``images``, computing (in batches) only the missing ones.

        ``compute`` maps a batch of images to their (batch, d) features; ``progress``
        optionally wraps the iterable of batches (e.g. a progress bar).
        """
        keys = image_keys(images, tag)
        self._scan()
        unique, first = np.unique(keys, return_index=True)
        missing = first[[key not in self._index for key in unique]]
        batches = [missing[i:i + batch_size] for i in range(0, len(missing), batch_size)]
        for number, batch in enumerate(progress(batches) if progress and batches
                                       else batches):
            features = compute(np.asarray(images)[batch])
            if number == 0:
                require_space(self.directory, _chunk_bytes(features, len(missing)),
                              f"the features of {len(missing)} images")
            self._write(keys[batch], features)
        return self._read(keys)

    def __len__(self) -> int:
        self._scan()
        return len(self._index)

    def _scan(self) -> None:
        for path in sorted(self.directory.glob(CHUNK_GLOB)):
            if path in self._scanned:
                continue
            try:
                with np.load(path) as chunk:
                    keys = chunk["keys"]
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                continue
            self._scanned.add(path)
            for row, key in enumerate(keys):
                self._index.setdefault(str(key), (path, row))

    def _write(self, keys: np.ndarray, features: np.ndarray) -> None:
        features = np.asarray(features)
        if features.ndim != 2 or len(features) != len(keys):
            raise ValueError(f"feature extractor returned shape {features.shape} for "
                             f"{len(keys)} images; expected (n_images, d)")
        name = f"chunk-{uuid.uuid4().hex}.npz"
        with atomic_path(self.directory / name) as temporary:
            np.savez(temporary, keys=keys, features=features.astype(np.float32))
        self._scan()

    def _read(self, keys: np.ndarray) -> np.ndarray:
        located = [self._index[str(key)] for key in keys]
        by_chunk: dict[Path, list[int]] = {}
        for position, (path, _) in enumerate(located):
            by_chunk.setdefault(path, []).append(position)
        out: np.ndarray | None = None
        for path, positions in by_chunk.items():
            with np.load(path) as chunk:
                features = chunk["features"]
            if out is None:
                out = np.empty((len(keys), features.shape[1]), dtype=np.float64)
            out[positions] = features[[located[p][1] for p in positions]]
        return out if out is not None else np.empty((0, 0), dtype=np.float64)

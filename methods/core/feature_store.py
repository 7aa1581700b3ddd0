"""A content-addressed, on-disk cache of per-image features.

Every image is keyed by the SHA-1 of its bytes, shape and dtype (plus a caller-given
tag), so the same crop gets the same features whichever fold, split or method asks for
it; the folder the store lives in carries the extractor and its options (see
:meth:`methods.core.context.TaskContext.artifact_dir`). Features are written in chunks, one
``.npz`` file per batch, each written to a temporary name and then renamed: a reader (or
a concurrent task) never sees a partial chunk, and an interrupted extraction keeps the
batches it finished.

Two ways in: :meth:`FeatureStore.get` keys images by their bytes (the handcrafted
features); :meth:`FeatureStore.lookup` takes the caller's content keys and computes what
is missing in one call (a network's fixed stages, :mod:`methods.deep.fixed_outputs`). With
``in_memory`` a store also keeps every value it has read or computed, so a value asked for
again (every epoch) is served without reading a file; files written by another process
are picked up when a key is missing. A chunk that cannot be read whole is skipped, and
its values are computed again and written to a new chunk.
"""

from __future__ import annotations

import hashlib
import uuid
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from methods.core.atomic import atomic_path, require_space

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

    Features are stored as float32 (a LOMO vector takes 105 KiB); :meth:`get` returns
    them as float64 rounded through float32 and :meth:`lookup` as float32, so a result
    never depends on whether a feature was just computed or read back. ``hits`` and
    ``misses`` count the values :meth:`lookup` served and computed.
    """

    def __init__(self, directory: Path, in_memory: bool = False) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[Path, int]] = {}
        self._scanned: set[Path] = set()
        self._memory: dict[str, np.ndarray] | None = {} if in_memory else None
        self.hits = 0
        self.misses = 0

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

    def lookup(self, keys: Sequence[str], compute: Callable[[np.ndarray], np.ndarray]
               ) -> np.ndarray:
        """(n, ...) float32 values of ``keys``, computing the missing ones.

        ``compute(positions)`` gives the (m, ...) values of the inputs at ``positions`` of
        ``keys``; it is called at most once, with the first position of each distinct key
        not stored yet (the key seen last first), and what it returns is written as one
        chunk before this returns. The caller guarantees that a key names one value.
        """
        keys = np.asarray(keys, dtype=str)
        first = {str(key): i for i, key in reversed(list(enumerate(keys)))}
        missing = [i for key, i in first.items() if not self._holds(key)]
        if missing:
            self._scan()
            missing = [i for i in missing if not self._holds(str(keys[i]))]
        if missing:
            values = np.asarray(compute(np.array(missing)))
            require_space(self.directory, _chunk_bytes(values, len(missing)),
                          f"the values of {len(missing)} inputs")
            self._write(keys[missing], values, dimensions=None)
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        if self._memory is not None:
            return np.stack([self._memory[str(key)] for key in keys]) if len(keys) else \
                np.empty((0,), dtype=np.float32)
        return self._read(keys, np.float32)

    def __len__(self) -> int:
        self._scan()
        return len(self._index)

    def clear(self) -> None:
        """Remove every stored value (a forced recomputation)."""
        for path in self.directory.glob(CHUNK_GLOB):
            path.unlink(missing_ok=True)
        self._index.clear()
        self._scanned.clear()
        if self._memory is not None:
            self._memory.clear()

    def _holds(self, key: str) -> bool:
        return key in (self._index if self._memory is None else self._memory)

    def _scan(self) -> None:
        for path in sorted(self.directory.glob(CHUNK_GLOB)):
            if path in self._scanned:
                continue
            try:
                with np.load(path) as chunk:
                    keys = chunk["keys"]
                    features = None if self._memory is None else chunk["features"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue
            if features is not None and len(features) != len(keys):
                continue
            self._add(path, keys, features)

    def _add(self, path: Path, keys: np.ndarray, features: np.ndarray | None) -> None:
        self._scanned.add(path)
        for row, key in enumerate(keys):
            self._index.setdefault(str(key), (path, row))
            if self._memory is not None:
                self._memory.setdefault(str(key), features[row])

    def _write(self, keys: np.ndarray, features: np.ndarray, dimensions: int | None = 2) -> None:
        """Write one chunk; ``features`` must be (len(keys), ...) with ``dimensions`` axes
        (``None``: any number from two on)."""
        features = np.asarray(features)
        if len(features) != len(keys) or features.ndim < 2 \
                or (dimensions is not None and features.ndim != dimensions):
            expected = "(n_images, d)" if dimensions == 2 else "(n_inputs, ...)"
            raise ValueError(f"feature extractor returned shape {features.shape} for "
                             f"{len(keys)} images; expected {expected}")
        features = np.ascontiguousarray(features, dtype=np.float32)
        name = f"chunk-{uuid.uuid4().hex}.npz"
        with atomic_path(self.directory / name) as temporary:
            np.savez(temporary, keys=keys, features=features)
        if self._memory is None:
            self._scan()
        else:
            self._add(self.directory / name, keys, features)

    def _read(self, keys: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        located = [self._index[str(key)] for key in keys]
        by_chunk: dict[Path, list[int]] = {}
        for position, (path, _) in enumerate(located):
            by_chunk.setdefault(path, []).append(position)
        out: np.ndarray | None = None
        for path, positions in by_chunk.items():
            with np.load(path) as chunk:
                features = chunk["features"]
            if out is None:
                out = np.empty((len(keys), *features.shape[1:]), dtype=dtype)
            out[positions] = features[[located[p][1] for p in positions]]
        return out if out is not None else np.empty((0, 0), dtype=dtype)

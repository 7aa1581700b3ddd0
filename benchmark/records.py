"""One JSON record per finished (data set, method, fold), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from benchmark.errors import BenchmarkError


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON to a temporary file beside ``path`` and move it into place.

    A crash leaves either the old file or the new one, never half a file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=1, sort_keys=True)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RecordStore:
    """Records under ``<root>/<profile>/<dataset>/<method>/fold<k>.json``."""

    def __init__(self, root: Path, profile: str) -> None:
        self.root = Path(root)
        self.profile = profile

    def path(self, dataset: str, method: str, fold: int) -> Path:
        return self.root / self.profile / dataset / method / f"fold{fold}.json"

    def read(self, dataset: str, method: str, fold: int) -> dict[str, Any] | None:
        """The stored record, or ``None`` when there is none."""
        path = self.path(dataset, method, fold)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise BenchmarkError(f"record {path} is unreadable ({error}); delete it to "
                                 f"recompute that task") from error

    def write(self, record: dict[str, Any]) -> Path:
        path = self.path(record["dataset"], record["method"], record["fold"])
        write_json_atomic(path, record)
        return path

    def all_records(self, dataset: str | None = None) -> list[dict[str, Any]]:
        """Every record of this profile (optionally of one data set), sorted by path."""
        base = self.root / self.profile
        pattern = f"{dataset}/*/fold*.json" if dataset else "*/*/fold*.json"
        return [json.loads(p.read_text()) for p in sorted(base.glob(pattern))]

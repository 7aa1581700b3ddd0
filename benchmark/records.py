"""One JSON record per finished (data set, method, fold), written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmark.atomic import write_json_atomic
from benchmark.errors import BenchmarkError
from benchmark.record_schema import missing_fields, record_problem


def load_record(path: Path) -> dict[str, Any]:
    """A record file, checked: an unreadable, incomplete or ill-typed one is a
    :class:`BenchmarkError` naming the file, the field and what to do."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        reason = f"not valid JSON: {error}" if isinstance(error, ValueError) else str(error)
        raise BenchmarkError(f"record {path} is unreadable ({reason}); delete it and rerun "
                             f"`rgbd-bench run` to recompute that task") from error
    missing = missing_fields(record)
    if missing:
        raise BenchmarkError(f"record {path} is incomplete (no {', '.join(missing)}); delete "
                             f"it and rerun `rgbd-bench run` to recompute that task")
    problem = record_problem(record)
    if problem:
        raise BenchmarkError(f"record {path} is malformed ({problem}); delete it and rerun "
                             f"`rgbd-bench run` to recompute that task")
    return record


class RecordStore:
    """Records under ``<root>/<profile>/<dataset>/<method>/fold<k>.json``."""

    def __init__(self, root: Path, profile: str) -> None:
        self.root = Path(root)
        self.profile = profile

    def path(self, dataset: str, method: str, fold: int) -> Path:
        return self.root / self.profile / dataset / method / f"fold{fold}.json"

    def lock_path(self, dataset: str, method: str, fold: int) -> Path:
        """The file whose lock a run holds while it computes that task."""
        return self.root / self.profile / ".locks" / dataset / method / f"fold{fold}.lock"

    def read(self, dataset: str, method: str, fold: int) -> dict[str, Any] | None:
        """The stored record, or ``None`` when there is none."""
        path = self.path(dataset, method, fold)
        return load_record(path) if path.is_file() else None

    def write(self, record: dict[str, Any]) -> Path:
        path = self.path(record["dataset"], record["method"], record["fold"])
        write_json_atomic(path, record)
        return path

    def all_records(self, dataset: str | None = None) -> list[dict[str, Any]]:
        """Every record of this profile (optionally of one data set), sorted by path."""
        base = self.root / self.profile
        pattern = f"{dataset}/*/fold*.json" if dataset else "*/*/fold*.json"
        return [load_record(p) for p in sorted(base.glob(pattern))]

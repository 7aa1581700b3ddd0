"""One JSON record per finished (data set, method, fold), written atomically."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.evaluation.outcomes import QueryOutcomes
from benchmark.runs.record_schema import missing_fields, record_problem
from methods.core.atomic import write_bytes_atomic, write_json_atomic
from methods.core.errors import BenchmarkError


def record_seed_index(record: dict[str, Any]) -> int:
    """Which training seed made a record (its task's seed index; records of one-seed
    runs, which do not say: 0)."""
    return int(record.get("config", {}).get("seed_index", 0))


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
    """Records under ``<root>/<profile>/<dataset>/<method>/fold<k>-<identity>.json``.

    A record is found by its task's identity (:mod:`methods.core.identity`): records of one
    (method, fold) made with other settings or code sit beside it, and a setting changed
    back finds its record again.
    """

    def __init__(self, root: Path, profile: str) -> None:
        self.root = Path(root)
        self.profile = profile

    def path(self, dataset: str, method: str, fold: int, identity: str) -> Path:
        return self.root / self.profile / dataset / method / f"fold{fold}-{identity}.json"

    def lock_path(self, dataset: str, method: str, fold: int, identity: str) -> Path:
        """The file whose lock a run holds while it computes that task."""
        return (self.root / self.profile / ".locks" / dataset / method
                / f"fold{fold}-{identity}.lock")

    def read(self, dataset: str, method: str, fold: int, identity: str
             ) -> dict[str, Any] | None:
        """The stored record of that identity, or ``None`` when there is none."""
        path = self.path(dataset, method, fold, identity)
        return load_record(path) if path.is_file() else None

    def all_of(self, dataset: str, method: str, fold: int) -> list[Path]:
        """Every record of one (method, fold), whatever made it, newest first (``foldK.json``:
        made before records carried their identity in their name)."""
        folder = self.root / self.profile / dataset / method
        found = [*folder.glob(f"fold{fold}-*.json"), *folder.glob(f"fold{fold}.json")]
        return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)

    def others(self, dataset: str, method: str, fold: int, identity: str) -> list[Path]:
        """The records of the same (method, fold) with another identity, newest first."""
        mine = self.path(dataset, method, fold, identity)
        return [p for p in self.all_of(dataset, method, fold) if p != mine]

    def remove(self, dataset: str, method: str, fold: int, identity: str) -> None:
        """Delete a record and its outcomes (a forced task recomputes it)."""
        path = self.path(dataset, method, fold, identity)
        path.with_suffix(OUTCOMES_SUFFIX).unlink(missing_ok=True)
        path.unlink(missing_ok=True)

    def write(self, record: dict[str, Any],
              outcomes: dict[str, QueryOutcomes] | None = None) -> Path:
        """Write a record; its per-query ``outcomes`` (by setting) go first to an ``.npz``
        beside it, which the record names with its SHA-256 (see :func:`outcomes_payload`)."""
        path = self.path(record["dataset"], record["method"], record["fold"],
                         record["task_hash"])
        if outcomes:
            data = outcomes_payload(outcomes)
            side = path.with_suffix(OUTCOMES_SUFFIX)
            write_bytes_atomic(side, data)
            record = {**record, "outcomes": {"file": side.name,
                                             "sha256": hashlib.sha256(data).hexdigest(),
                                             "settings": sorted(outcomes)}}
        write_json_atomic(path, record)
        return path

    def outcomes(self, record: dict[str, Any]) -> tuple[dict[str, QueryOutcomes] | None, str]:
        """A record's per-query outcomes, or ``None`` and why there are none."""
        reference = record.get("outcomes")
        if not reference:
            return None, "made before per-query outcomes were stored"
        folder = self.path(record["dataset"], record["method"], record["fold"],
                           record["task_hash"]).parent
        return read_outcomes(folder / reference["file"], reference["sha256"])

    def all_records(self, dataset: str | None = None) -> list[dict[str, Any]]:
        """Every record of this profile (optionally of one data set), sorted by path."""
        base = self.root / self.profile
        pattern = f"{dataset}/*/fold*.json" if dataset else "*/*/fold*.json"
        return [load_record(p) for p in sorted(base.glob(pattern))]


OUTCOMES_SUFFIX = ".outcomes.npz"


def outcomes_payload(outcomes: dict[str, QueryOutcomes]) -> bytes:
    """The ``.npz`` bytes of per-setting outcomes: ``<setting>/pids|ranks|ap`` arrays.

    Written without timestamps (``np.savez_compressed`` stores none), so the same
    outcomes give the same bytes and the same checksum.
    """
    arrays = {}
    for setting, item in sorted(outcomes.items()):
        arrays[f"{setting}/pids"] = np.asarray(item.pids)
        arrays[f"{setting}/ranks"] = np.asarray(item.ranks, dtype=np.int32)
        arrays[f"{setting}/ap"] = np.asarray(item.ap, dtype=np.float64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def read_outcomes(path: Path, sha256: str) -> tuple[dict[str, QueryOutcomes] | None, str]:
    """The outcomes stored in ``path`` when its checksum is ``sha256``; else ``None`` and
    the reason (missing, changed or unreadable file)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None, f"its outcomes file {path} is missing"
    if hashlib.sha256(data).hexdigest() != sha256:
        return None, f"its outcomes file {path} does not match the record's checksum"
    try:
        with np.load(io.BytesIO(data)) as stored:
            arrays = {name: stored[name] for name in stored.files}
    except (OSError, ValueError) as error:
        return None, f"its outcomes file {path} is unreadable ({error})"
    settings = sorted({name.rsplit("/", 1)[0] for name in arrays})
    return {s: QueryOutcomes(pids=arrays[f"{s}/pids"], ranks=arrays[f"{s}/ranks"],
                             ap=arrays[f"{s}/ap"]) for s in settings}, ""

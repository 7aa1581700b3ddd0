"""``rgbd-bench cache``: what the artifact store holds, which records use it, and cleaning.

Artifacts (trained networks, student networks, features, fixed-stage outputs) live under
``<cache>/artifacts/<data set key>/[fold<k>/]<kind>/<key>``; a record lists the folders
its task used (``artifacts``), so each folder can be traced to the records it made.
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_KEY = re.compile(r"^[0-9a-f]{16}$")


@dataclass
class Artifact:
    """One artifact folder and the records that used it."""

    path: Path
    relative: str
    kind: str
    size: int
    modified: float
    users: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        date = datetime.datetime.fromtimestamp(self.modified).strftime("%Y-%m-%d %H:%M")
        users = sorted({f"{u['profile']}/{u['method']} fold {u['fold']}" for u in self.users})
        shown = ", ".join(users[:3]) + (f" (+{len(users) - 3})" if len(users) > 3 else "")
        return (f"{self.kind:24s} {self.path.name}  {_size(self.size):>9s}  {date}  "
                f"{shown or 'no record'}")


def _size(count: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)


def _records(output: Path) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted((Path(output) / "records").glob("*/*/*/fold*.json")):
        try:
            found.append((path, json.loads(path.read_text())))
        except (OSError, ValueError):
            continue
    return found


def artifacts(cache: Path, output: Path) -> list[Artifact]:
    """Every artifact folder under ``cache``, with the records under ``output`` that
    used it."""
    root = Path(cache) / "artifacts"
    users: dict[str, list[dict[str, Any]]] = {}
    for path, record in _records(output):
        for relative in record.get("artifacts", []):
            users.setdefault(relative, []).append(
                {"profile": path.parents[2].name, "method": record.get("method"),
                 "fold": record.get("fold"), "record": path})
    found = []
    for folder in sorted(root.glob("**/*")) if root.is_dir() else []:
        if not folder.is_dir() or not _KEY.match(folder.name):
            continue
        files = [f for f in folder.rglob("*") if f.is_file()]
        relative = str(folder.relative_to(root))
        found.append(Artifact(folder, relative, folder.parent.name,
                              sum(f.stat().st_size for f in files),
                              max((f.stat().st_mtime for f in files),
                                  default=folder.stat().st_mtime),
                              users.get(relative, [])))
    return found


def remove(found: list[Artifact], keep: Callable[[Artifact], bool]) -> list[Artifact]:
    """Delete the artifacts ``keep`` rejects; returns them."""
    removed = [a for a in found if not keep(a)]
    for artifact in removed:
        shutil.rmtree(artifact.path, ignore_errors=True)
    return removed

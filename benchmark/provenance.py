"""Where a number came from: versions, commit, date, machine."""

from __future__ import annotations

import datetime
import platform
import subprocess
from importlib import metadata
from pathlib import Path

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


def provenance() -> dict[str, object]:
    """The provenance block stored in every record and table."""
    return {"commit": git_commit(), "date": now_utc(), "host": platform.node(),
            "machine": platform.machine(), "versions": package_versions()}

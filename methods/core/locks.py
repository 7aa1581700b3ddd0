"""A lock per task, so that runs started on the same output share the work.

The lock is an advisory ``flock`` on a small file beside the records; the operating
system releases it when its holder ends, even after ``kill -9``, so a stale lock never
blocks a later run.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def task_lock(path: Path, wait: bool) -> Iterator[bool]:
    """Hold the lock at ``path`` for the ``with`` block; yields ``False`` (without
    holding it) when another process holds it and ``wait`` is false."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

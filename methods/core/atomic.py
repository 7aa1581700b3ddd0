"""Files written whole or not at all, readable as the umask allows, and a full disk
reported in one line naming the folder.

Every file and folder the suite writes (records, tables, figures, side files, crop
caches, features, networks) goes through :func:`atomic_path` or
:func:`atomic_directory`: the content is written under a temporary name beside its
target and moved into place with ``os.replace``, so a crash, a full disk or a SIGTERM
leaves the old file or the new one, never part of one. Temporary names carry the host
and process that wrote them, so that :func:`sweep_stale_temporaries` can remove what a
killed run left behind without touching the files of a run still writing.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from methods.core.errors import BenchmarkError

STALE_AFTER_S = 24 * 3600
_TEMPORARY = re.compile(r"^\..+~(?P<host>[^~]*)~(?P<pid>\d+)~[^~]+~tmp(\.[^~]*)?$")
_LEGACY_TEMPORARY = re.compile(r"^\.tmp-chunk-[0-9a-f]+\.npz$")
_TORCH_WRITE_FAILED = ("inline_container", "PytorchStreamWriter", "file write failed")


class OutOfSpace(BenchmarkError):
    """A file could not be written because its file system is full (or over quota)."""


def umask() -> int:
    """The process's file-creation mask (read without changing it for good)."""
    current = os.umask(0o022)
    os.umask(current)
    return current


def created_mode(directory: bool = False) -> int:
    """The mode ``open``/``mkdir`` would give a new file (folder) under the umask:
    ``mkstemp``/``mkdtemp`` give 0600/0700 whatever the umask, so they are widened
    to this, and colleagues sharing a folder can read what a run wrote."""
    return (0o777 if directory else 0o666) & ~umask()


def _host() -> str:
    return socket.gethostname().split(".")[0].replace("~", "-") or "host"


def _temporary_affixes(target: Path) -> tuple[str, str]:
    """``mkstemp`` prefix and suffix: ``.<name>~<host>~<pid>~<random>~tmp<ext>``; the
    target's extension is kept for writers that pick the format from it."""
    return f".{target.name}~{_host()}~{os.getpid()}~", f"~tmp{target.suffix}"


def readable_size(size: float) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    if size < 1024:
        return f"{size:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"


def free_space(folder: Path) -> int:
    """Bytes free for this user on the file system of ``folder`` (or of its nearest
    existing parent)."""
    folder = Path(folder).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def require_space(folder: Path, needed: int, what: str) -> None:
    """Raise :class:`OutOfSpace` before a long task whose output (``needed`` bytes,
    estimated) would not fit in ``folder``."""
    free = free_space(folder)
    if needed > free:
        raise OutOfSpace(f"not enough space for {what} in {folder}: about "
                         f"{readable_size(needed)} needed, {readable_size(free)} free; free "
                         f"some space there or point the run elsewhere (--cache/--output)")


def out_of_space(error: BaseException, target: Path, needed: int | None = None
                 ) -> OutOfSpace | None:
    """``error`` as one :class:`OutOfSpace` line naming ``target``, when it is a full
    disk: ``ENOSPC``/``EDQUOT``, or torch's wrapped form of a failed write
    (``[enforce fail at inline_container.cc] unexpected pos``) when less than
    ``needed`` bytes are free. ``None`` for any other error."""
    if isinstance(error, OutOfSpace):
        return error
    full = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    if not full and isinstance(error, RuntimeError) and needed is not None:
        full = any(mark in str(error) for mark in _TORCH_WRITE_FAILED) \
            and free_space(target.parent) < needed
    if not full:
        return None
    size = f"about {readable_size(needed)} needed, " if needed else ""
    return OutOfSpace(f"no space left on device writing {target} ({size}"
                      f"{readable_size(free_space(target.parent))} free in {target.parent}); "
                      f"free some space there and rerun: finished work is kept")


@contextmanager
def atomic_path(target: Path, needed: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``target`` for the block to write; moved onto ``target``
    when the block ends, removed when it raises (a full disk becomes :class:`OutOfSpace`).

    ``needed`` (bytes, when known) is checked against the free space first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if needed is not None:
        require_space(target.parent, needed, str(target))
    prefix, suffix = _temporary_affixes(target)
    try:
        handle, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=target.parent)
    except OSError as error:
        _raise_if_full(error, target, needed)
        raise
    os.close(handle)
    temporary = Path(name)
    try:
        os.chmod(temporary, created_mode())
        yield temporary
        _fsync(temporary)
        os.replace(temporary, target)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        _raise_if_full(error, target, needed)
        raise


def _raise_if_full(error: BaseException, target: Path, needed: int | None) -> None:
    """Raise ``error`` as :class:`OutOfSpace` when it is a full disk."""
    full = out_of_space(error, target, needed)
    if full is not None and full is not error:
        raise full from error


def _fsync(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_text_atomic(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    write_bytes_atomic(target, text.encode())


def write_json_atomic(target: Path, payload: Any) -> None:
    """Write ``payload`` as indented, key-sorted JSON to ``target`` atomically."""
    write_text_atomic(target, json.dumps(payload, indent=1, sort_keys=True))


@contextmanager
def atomic_directory(target: Path, needed: int | None = None) -> Iterator[Path]:
    """A temporary folder beside ``target`` for the block to fill; renamed to ``target``
    when the block ends, removed with its content when it raises. Renaming onto an
    existing non-empty ``target`` raises ``OSError`` (another process finished first)."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if needed is not None:
        require_space(target.parent, needed, str(target))
    prefix, suffix = _temporary_affixes(target)
    temporary = Path(tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=target.parent))
    try:
        os.chmod(temporary, created_mode(directory=True))
        yield temporary
        os.replace(temporary, target)
    except BaseException as error:
        shutil.rmtree(temporary, ignore_errors=True)
        _raise_if_full(error, target, needed)
        raise


def is_stale_temporary(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` is a temporary file of this module (or an older feature chunk's)
    that no running writer owns: written on this host by a process that has ended, or
    untouched for a day (a writer on another host cannot be asked)."""
    match = _TEMPORARY.match(path.name)
    if match is None and _LEGACY_TEMPORARY.match(path.name) is None:
        return False
    try:
        age = (now or time.time()) - path.lstat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_AFTER_S:
        return True
    if match is None or match["host"] != _host():
        return False
    return not _process_alive(int(match["pid"]))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temporaries(*roots: Path) -> list[Path]:
    """Remove the stale temporary files and folders under ``roots``; returns them."""
    removed = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [*files, *dirs]:
                path = Path(folder) / name
                if not is_stale_temporary(path):
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                    dirs.remove(name)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed

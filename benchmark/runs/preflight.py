"""Everything about a run that can be checked before its first task starts.

A typo in a profile, an option of the wrong type or an unwritable folder must fail in
one line at once, not after other tasks have run and written their records. ``run``
and ``run --dry-run`` call :func:`validate_run` first.
"""

from __future__ import annotations

import difflib
import tempfile
from pathlib import Path

from benchmark.datasets.base import get_dataset
from benchmark.evaluation.protocol_tvrid import check_supports_passages
from benchmark.runs.config import Profile
from benchmark.runs.planner import RunPlan
from benchmark.runs.runner import Paths
from methods.core.errors import ConfigError
from methods.core.registry import available_methods


def option_sections(profile: Profile) -> None:
    """Every ``[options.<name>]`` names a method or an option group; else a suggestion."""
    methods = available_methods()
    groups: set[str] = set()
    for cls in methods.values():
        group = cls.option_group
        groups.update((group,) if isinstance(group, str) else tuple(group or ()))
    known = sorted(set(methods) | groups)
    for name in profile.options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean [options.{close[0]}]?" if close else \
                f"use a method name or one of the groups {sorted(groups)}"
            raise ConfigError(f"{profile.source}: unknown section [options.{name}]: no method "
                              f"or option group has that name; {hint}")


def fold_count(profile: Profile) -> None:
    """The data set's own checks (a manifest's rows) and the fold count against its
    splits, before any crop is built."""
    dataset = get_dataset(profile.run.dataset, **profile.dataset)
    dataset.preflight()
    if profile.run.protocol == "tvrid":
        check_supports_passages(dataset)
    limit = dataset.fold_limit()
    if limit is not None and profile.run.folds > limit:
        raise ConfigError(f"{profile.source}: [run] folds = {profile.run.folds}, but data set "
                          f"{dataset.name!r} has {limit} splits to run; use --folds 1..{limit}")


def writable_folder(path: Path, flag: str) -> None:
    """``path`` is (or can become) a folder this process can write to."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path} is a file, not a folder; pass a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise ConfigError(f"{flag} {path} is not writable ({error.strerror or error}); pass "
                          f"a folder you can write to") from error


def validate_run(plan: RunPlan, paths: Paths | None = None) -> None:
    """Check what planning does not (sections, folds, folders); the plan itself has
    checked the methods and every option of each."""
    option_sections(plan.profile)
    fold_count(plan.profile)
    if paths is not None:
        writable_folder(paths.output, "--output")
        writable_folder(paths.cache, "--cache")

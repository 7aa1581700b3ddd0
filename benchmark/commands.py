"""What each ``rgbd-bench`` command does, once :mod:`benchmark.cli` has parsed it."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.runs.config import DEFAULT_PROFILE, PROFILE_NAMES, parse_override, read_profile
from methods.core.atomic import sweep_stale_temporaries
from methods.core.errors import BenchmarkError, ConfigError

if TYPE_CHECKING:
    from benchmark.runs.planner import RunPlan

log = logging.getLogger("rgbd_bench")
PREVIEW_SIZE = (128, 64)


def plan_from_args(args: argparse.Namespace, default: str = DEFAULT_PROFILE) -> RunPlan:
    """The plan of the profile named on the command line with every override applied,
    with each fold's data digest when the crop cache is built.

    The profile is read once. Records are found by identity, so a changed setting reruns
    the tasks it reaches and reuses the rest; when it changes some task, the plan's tables
    go under ``<name>+<settings key>`` (see :func:`benchmark.runs.planner.plan_run`).
    """
    from benchmark.runs.planner import plan_run

    text = read_profile(args.profile or default)
    selection: list[str] = []
    other_dataset = False
    if args.dataset:
        other_dataset = args.dataset != text.build().run.dataset
        selection.append(f'run.dataset="{args.dataset}"')
    if args.root:
        selection.append(f"dataset.root={json.dumps(args.root)}")
    if args.methods is not None:
        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        if not names:
            raise ConfigError("--methods is empty; name at least one method "
                              "(`rgbd-bench methods` lists them)")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            log.warning("--methods names %s more than once; each method runs once",
                        ", ".join(repeated))
        selection.append(f"run.methods={json.dumps(list(dict.fromkeys(names)))}")
    settings = list(args.overrides)
    if args.folds is not None:
        settings.append(f"run.folds={args.folds}")
    if args.trials is not None:
        settings.append(f"run.trials={args.trials}")
    if args.seeds is not None:
        settings.append(f"run.seeds={args.seeds}")
    base = text.build(selection)
    profile = text.build(selection + settings)
    if other_dataset:  # the profile's [dataset] options belong to its own data set
        given = {"root"} | {keys[1] for keys, _ in map(parse_override, settings)
                            if keys[0] == "dataset"}
        for loaded in (base, profile):
            loaded.dataset = {k: v for k, v in loaded.dataset.items() if k in given}
    return plan_run(profile, base, settings, cache_dir=_paths(args).cache)


def _paths(args: argparse.Namespace):
    from benchmark.runs.runner import Paths

    return Paths(output=args.output, cache=args.cache or default_cache())


def command_run(args: argparse.Namespace) -> int:
    from benchmark.runs.executors import check_executor, execute
    from benchmark.runs.preflight import validate_run
    from benchmark.runs.runner import TasksFailed

    plan = plan_from_args(args)
    paths = _paths(args)
    validate_run(plan, None if args.dry_run else paths)
    check_executor(plan.profile, args.executor)
    _announce_variant(plan)
    if args.dry_run:
        _print_plan(plan, paths, args.executor, args.json)
        return 0
    _sweep(paths.output, paths.cache)
    failed: TasksFailed | None = None
    try:
        execute(plan, paths, args.executor, quiet=not _bars(args), force=args.force)
    except TasksFailed as error:
        failed = error
    # Outputs after the tasks; when tasks failed, their errors are reported after the
    # failed tasks, which matter more.
    output_errors: list[str] = []
    steps = [("splits.json", lambda: _publish_splits(plan, paths))]
    if not args.no_tables and (failed is None or failed.records):
        steps.insert(0, ("tables", lambda: _write_tables(
            plan.with_data(paths.cache), paths, with_paper=False, fmt="files")))
    for what, write in steps:
        try:
            write()
        except (BenchmarkError, OSError) as error:
            if failed is None:
                raise
            output_errors.append(f"{what} not written: {error}")
    if failed is None:
        return 0
    print(f"rgbd-bench: {len(failed.failures)} task(s) failed, their records were not "
          f"written (rerun to retry them; --debug shows tracebacks):", file=sys.stderr)
    for failure in failed.failures:
        print(f"  {failure.line()}", file=sys.stderr)
    for line in output_errors:
        print(f"rgbd-bench: error: {line}", file=sys.stderr)
    return 1


def _publish_splits(plan: RunPlan, paths) -> None:
    """The run's folds as ``splits.json`` beside its records (see
    :mod:`benchmark.reports.published_splits`)."""
    from benchmark.reports.published_splits import write_splits

    written = write_splits(plan.profile, paths.output, paths.cache)
    if written is not None:
        log.info("folds: %s", written)


def command_export_rankings(args: argparse.Namespace) -> int:
    """Each method's test rankings in TVRID's submission format (see
    :mod:`benchmark.reports.rankings_export`)."""
    from benchmark.reports.rankings_export import export_rankings
    from benchmark.runs.preflight import validate_run

    plan = plan_from_args(args)
    paths = _paths(args)
    validate_run(plan, paths)
    written = export_rankings(plan, paths, args.to, quiet=not _bars(args))
    print(f"rankings: {args.to} ({len(written)} files)")
    return 0


def _sweep(*roots: Path) -> None:
    """Remove what killed runs left half-written (see :mod:`methods.core.atomic`)."""
    removed = sweep_stale_temporaries(*roots)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run (e.g. %s)",
                 len(removed), removed[0])


def _print_plan(plan: RunPlan, paths, executor: str, as_json: bool) -> None:
    """The plan's tasks and whether each has its record; with ``as_json`` each with its
    resolved options, seed, the tasks it needs and the parts of its identity."""
    from benchmark.runs.records import load_record, record_seed_index

    profile = plan.profile
    store = paths.record_store(profile)
    rows = []
    for number, wave in enumerate(plan.waves()):
        for task in wave:
            record = store.read(profile.run.dataset, task.method, task.fold, task.identity)
            current = task.is_current(record)
            differs: list[str] = []
            if not current:
                others = [load_record(path) for path in store.others(
                    profile.run.dataset, task.method, task.fold, task.identity)]
                for other in [r for r in others
                              if record_seed_index(r) == task.seed_index][:1]:
                    differs = task.provenance.differences(other.get("identity") or {}) \
                        or ["data"]
            rows.append({"wave": number, "dataset": profile.run.dataset,
                         "method": task.method, "fold": task.fold,
                         "seed_index": task.seed_index, "record_exists": current or bool(differs),
                         "record_current": current, "differs_in": differs,
                         "options": task.options, "seed": task.seed,
                         "needs": [t.method for t in task.needs],
                         "identity": task.identity,
                         "provenance": task.provenance.to_dict()})
    if as_json:
        print(json.dumps({"profile": profile.name, "variant": plan.variant,
                          "source": profile.source, "run": profile.to_dict()["run"],
                          "dataset": profile.dataset, "tasks": rows}, indent=1, default=str))
        return
    for t in rows:
        state = ("" if not t["record_exists"] else " (record exists)" if t["record_current"]
                 else f" (record made with other {', '.join(t['differs_in'])}: reruns)")
        seed = f" seed {t['seed_index']}" if t["seed_index"] else ""
        print(f"wave {t['wave']}: {t['dataset']} {t['method']} fold {t['fold']}{seed}{state} "
              f"[{executor}]")


def _announce_variant(plan: RunPlan) -> None:
    if plan.variant != plan.profile.name:
        log.info("settings differ from the profile's (%s): the tasks they change rerun, "
                 "the others are reused; tables go under the name %s",
                 ", ".join(plan.profile.changes), plan.variant)


def _bars(args: argparse.Namespace) -> bool:
    """Progress bars only on a terminal: redirected logs get plain lines, no debris."""
    return not args.quiet and sys.stderr.isatty()


def _write_tables(plan: RunPlan, paths, with_paper: bool, fmt: str,
                  selection: dict | None = None, significance: bool = True,
                  seed_spread: str = "footnote") -> None:
    from benchmark.reports.report import write_report

    before = _file_states(paths.output / "tables" / plan.variant)
    out_dir, written = write_report(plan, paths, with_paper=with_paper,
                                    markdown=fmt == "markdown", selection=selection,
                                    significance=significance, seed_spread=seed_spread)
    after = _file_states(out_dir)
    changed = sum(after[path] != before.get(path) for path in after)
    print(f"tables: {out_dir} ({len(written)} files"
          + (", none changed)" if changed == 0 else f", {changed} written)"))


def _file_states(folder: Path) -> dict[Path, str]:
    """Each file's content digest under ``folder``: what a rewrite changes."""
    if not folder.is_dir():
        return {}
    return {path: hashlib.sha256(path.read_bytes()).hexdigest()
            for path in folder.iterdir() if path.is_file()}


def command_tables(args: argparse.Namespace) -> int:
    from benchmark.reports.report import records_profile

    paths = _paths(args)
    plan = plan_from_args(args, records_profile(args.profile, paths))
    _sweep(paths.output / "tables")
    selection = {"methods": plan.profile.run.methods if args.methods is not None else None,
                 "folds": args.folds}
    _write_tables(plan, paths, with_paper=args.with_paper, fmt=args.format,
                  selection=selection, significance=not args.no_significance,
                  seed_spread=args.latex_seed_spread)
    return 0


def command_compare(args: argparse.Namespace) -> int:
    from benchmark.reports.compare import compare_methods, format_comparison
    from benchmark.reports.report import records_profile

    paths = _paths(args)
    plan = plan_from_args(args, records_profile(args.profile, paths))
    lines = compare_methods(paths.record_store(plan.profile), args.method_a, args.method_b,
                            args.metric, plan.profile.statistics, current=plan.is_current)
    print(format_comparison(lines, args.method_a, args.method_b, plan.profile))
    return 0


def command_methods(args: argparse.Namespace) -> int:
    from methods.core.registry import available_methods, broken_plugins

    methods = available_methods()
    broken = broken_plugins()
    width = max(map(len, [*methods, *(b.entry_point for b in broken)]))
    for name, cls in methods.items():
        settings = ", ".join(f"{q}->{g}" for q, g in cls.settings)
        print(f"{name:{width}s}  {cls.summary}  [{settings}]")
    for plugin in broken:
        print(f"{plugin.entry_point:{width}s}  BROKEN plugin ({plugin.value}, distribution "
              f"{plugin.distribution}): {plugin.reason}; pip uninstall {plugin.distribution}")
    return 0


def command_datasets(args: argparse.Namespace) -> int:
    from benchmark.datasets.base import available_datasets, get_dataset

    for flag in ("preview", "verify"):
        if getattr(args, flag) and not args.dataset:
            raise ConfigError(f"--{flag} needs --dataset NAME")
    names = [args.dataset] if args.dataset else list(available_datasets())
    options = {"root": args.root} if args.root else {}
    infos = []
    for name in names:
        try:
            dataset = get_dataset(name, **options)
            info = dataset.describe()
        except BenchmarkError as error:
            if args.dataset:
                raise
            info = {"name": name, "status": str(error)}
        infos.append(info)
    if args.preview:
        from benchmark.datasets.base import load_frames
        from benchmark.datasets.preview import save_preview

        frames = load_frames(dataset, PREVIEW_SIZE, args.cache or default_cache())
        print(f"wrote {save_preview(frames, args.preview)}")
    if args.verify:
        from benchmark.datasets.verify import verify

        infos[0].update(verify(dataset))
    if args.json:
        print(json.dumps(infos[0] if args.dataset else infos, indent=1, default=str))
    else:
        for info in infos:
            print(json.dumps({k: v for k, v in info.items() if k != "bad_files"}, default=str))
    bad = infos[0].get("bad_files", []) if args.dataset else []
    for item in bad:
        print(f"rgbd-bench: bad file ({item['reason']}): {item['path']}", file=sys.stderr)
    if bad:
        print(f"rgbd-bench: {len(bad)} of {infos[0]['verified_files']} files are bad; "
              f"download them again", file=sys.stderr)
    return 1 if bad else 0


def command_speed(args: argparse.Namespace) -> int:
    from benchmark.speed import main as speed_main

    return speed_main(quick=args.quick)


def command_cache(args: argparse.Namespace) -> int:
    from benchmark.runs.artifact_cache import artifacts, remove

    paths = _paths(args)
    found = artifacts(paths.cache, paths.output)
    if args.remove or args.prune:
        if args.remove:
            def keep(artifact) -> bool:
                return not any(u["method"] == args.remove for u in artifact.users)
        else:
            current = _current_records(paths)

            def keep(artifact) -> bool:
                return any(u["record"] in current for u in artifact.users)
        gone = remove(found, keep)
        size = sum(a.size for a in gone)
        print(f"removed {len(gone)} artifact(s), {size / 2**20:.1f} MB, from "
              f"{paths.cache / 'artifacts'}")
        return 0
    for artifact in found:
        print(artifact.line())
    total = sum(a.size for a in found)
    unused = sum(not a.users for a in found)
    print(f"{len(found)} artifact(s), {total / 2**20:.1f} MB under {paths.cache / 'artifacts'}"
          f"; {unused} used by no record under {paths.output / 'records'}")
    return 0


def _current_records(paths) -> set[Path]:
    """The records under ``--output`` that are current: for a built-in profile, those its
    plan would make now; a profile of another file keeps all of its records."""
    from benchmark.runs.config import load_profile
    from benchmark.runs.planner import plan_run
    from benchmark.runs.records import load_record

    current: set[Path] = set()
    for folder in sorted((paths.output / "records").glob("*")):
        records = sorted(folder.glob("*/*/fold*.json"))
        if folder.name not in PROFILE_NAMES:
            current.update(records)
            continue
        plan = plan_run(load_profile(folder.name), cache_dir=paths.cache)
        current.update(p for p in records if plan.is_current(load_record(p)))
    return current


def default_cache() -> Path:
    """``$RGBD_BENCH_CACHE``, else ``~/.cache/rgbd-bench``: crops, features, checkpoints."""
    return Path(os.environ.get("RGBD_BENCH_CACHE", Path.home() / ".cache" / "rgbd-bench"))

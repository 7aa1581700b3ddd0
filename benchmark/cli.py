"""The ``rgbd-bench`` command line (also ``python -m benchmark``)."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from benchmark.atomic import sweep_stale_temporaries
from benchmark.config import (
    DEFAULT_PROFILE,
    PROFILE_NAMES,
    parse_override,
    read_profile,
)
from benchmark.errors import BenchmarkError, ConfigError

if TYPE_CHECKING:
    from benchmark.planner import RunPlan

log = logging.getLogger("rgbd_bench")


PREVIEW_SIZE = (128, 64)


def default_cache() -> Path:
    """``$RGBD_BENCH_CACHE``, else ``~/.cache/rgbd-bench``: crops, features, checkpoints."""
    return Path(os.environ.get("RGBD_BENCH_CACHE", Path.home() / ".cache" / "rgbd-bench"))


def _add_folder_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("results"),
                        help="folder for records and tables (default: results)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder for crop caches and artifacts "
                             "(default: $RGBD_BENCH_CACHE or ~/.cache/rgbd-bench)")


def _add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default=None,
                        help=f"built-in profile ({', '.join(PROFILE_NAMES)}) or a TOML file "
                             f"(default: {DEFAULT_PROFILE}; for tables: the profile that "
                             f"has records)")
    parser.add_argument("--dataset", help="data set name (overrides [run] dataset)")
    parser.add_argument("--root", help="data set root folder (sets [dataset] root)")
    parser.add_argument("--methods", help="comma-separated method names")
    parser.add_argument("--folds", type=int, help="number of folds")
    parser.add_argument("--trials", type=int, help="gallery resamplings per fold")
    parser.add_argument("--seeds", type=int,
                        help="training seeds per task (overrides [run] seeds; methods with "
                             "a deterministic fit run once); see docs/statistics.md")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override any profile key, e.g. --set options.deep.selection.epochs=2")
    _add_folder_arguments(parser)
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or info logs; still says where the tables went")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of a failed task (or set RGBD_BENCH_DEBUG=1)")


def plan_from_args(args: argparse.Namespace, default: str = DEFAULT_PROFILE) -> RunPlan:
    """The plan of the profile named on the command line with every override applied,
    with each fold's data digest when the crop cache is built.

    The profile is read once. Records are found by identity, so a changed setting reruns
    the tasks it reaches and reuses the rest; when it changes some task, the plan's tables
    go under ``<name>+<settings key>`` (see :func:`benchmark.planner.plan_run`).
    """
    from benchmark.planner import plan_run

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
    from benchmark.runner import Paths

    return Paths(output=args.output, cache=args.cache or default_cache())


def command_run(args: argparse.Namespace) -> int:
    from benchmark.executors import check_executor, execute
    from benchmark.runner import TasksFailed
    from benchmark.validation import validate_run

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
    :mod:`benchmark.published_splits`)."""
    from benchmark.published_splits import write_splits

    written = write_splits(plan.profile, paths.output, paths.cache)
    if written is not None:
        log.info("folds: %s", written)


def command_export_rankings(args: argparse.Namespace) -> int:
    """Each method's test rankings in TVRID's submission format (see
    :mod:`benchmark.rankings_export`)."""
    from benchmark.rankings_export import export_rankings
    from benchmark.validation import validate_run

    plan = plan_from_args(args)
    paths = _paths(args)
    validate_run(plan, paths)
    written = export_rankings(plan, paths, args.to, quiet=not _bars(args))
    print(f"rankings: {args.to} ({len(written)} files)")
    return 0


def _sweep(*roots: Path) -> None:
    """Remove what killed runs left half-written (see :mod:`benchmark.atomic`)."""
    removed = sweep_stale_temporaries(*roots)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run (e.g. %s)",
                 len(removed), removed[0])


def _print_plan(plan: RunPlan, paths, executor: str, as_json: bool) -> None:
    """The plan's tasks and whether each has its record; with ``as_json`` each with its
    resolved options, seed, the tasks it needs and the parts of its identity."""
    from benchmark.records import load_record, record_seed_index

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
    from benchmark.report import write_report

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
    from benchmark.report import records_profile

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
    from benchmark.compare import compare_methods, format_comparison
    from benchmark.report import records_profile

    paths = _paths(args)
    plan = plan_from_args(args, records_profile(args.profile, paths))
    lines = compare_methods(paths.record_store(plan.profile), args.method_a, args.method_b,
                            args.metric, plan.profile.statistics, current=plan.is_current)
    print(format_comparison(lines, args.method_a, args.method_b, plan.profile))
    return 0


def command_methods(args: argparse.Namespace) -> int:
    from methods.registry import available_methods, broken_plugins

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
    from benchmark.artifact_cache import artifacts, remove

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
    from benchmark.config import load_profile
    from benchmark.planner import plan_run
    from benchmark.records import load_record

    current: set[Path] = set()
    for folder in sorted((paths.output / "records").glob("*")):
        records = sorted(folder.glob("*/*/fold*.json"))
        if folder.name not in PROFILE_NAMES:
            current.update(records)
            continue
        plan = plan_run(load_profile(folder.name), cache_dir=paths.cache)
        current.update(p for p in records if plan.is_current(load_record(p)))
    return current


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rgbd-bench", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run a profile (default: quick) and write its tables")
    _add_profile_arguments(run)
    run.add_argument("--force", action="store_true", help="recompute finished tasks")
    run.add_argument("--no-tables", action="store_true", help="skip writing tables")
    run.add_argument("--dry-run", action="store_true", help="list the tasks and stop")
    run.add_argument("--json", action="store_true",
                     help="with --dry-run: JSON, each task with its resolved options")
    run.add_argument("--executor", choices=("local", "slurm"), default="local",
                     help="run tasks in this process or as Slurm jobs (needs the "
                          "'cluster' extra)")
    run.set_defaults(func=command_run)
    tables = sub.add_parser("tables", help="write Tables 1-4 from the records of a profile")
    _add_profile_arguments(tables)
    tables.add_argument("--with-paper", action="store_true",
                        help="add the paper's reported numbers and the differences")
    tables.add_argument("--format", choices=("files", "markdown"), default="files",
                        help="also print the tables as Markdown")
    tables.add_argument("--no-significance", action="store_true",
                        help="no pairwise tests and no marks beyond each column's best")
    tables.add_argument("--latex-seed-spread", choices=("footnote", "column"),
                        default="footnote",
                        help="with several training seeds, LaTeX shows their std as a "
                             "footnote line (default) or a column after each metric")
    tables.set_defaults(func=command_tables)
    compare = sub.add_parser("compare", help="paired test of two methods, cell by cell")
    compare.add_argument("method_a")
    compare.add_argument("method_b")
    compare.add_argument("--metric", choices=("rank1", "rank5", "rank10", "mAP"),
                         action="append", help="metric(s) to compare (default: rank1 and mAP)")
    _add_profile_arguments(compare)
    compare.set_defaults(func=command_compare)
    methods = sub.add_parser("methods", help="list registered methods (built-in and plugins)")
    methods.set_defaults(func=command_methods)
    datasets = sub.add_parser("datasets", help="list data sets and what they contain")
    datasets.add_argument("--dataset", help="describe one data set")
    datasets.add_argument("--root", help="its root folder")
    datasets.add_argument("--json", action="store_true", help="print JSON")
    datasets.add_argument("--preview", metavar="PNG",
                          help="also draw RGB/depth crops of the first identities (128x64)")
    datasets.add_argument("--cache", type=Path, help="crop cache folder (default: as run)")
    datasets.add_argument("--verify", action="store_true",
                          help="decode every file and name the bad ones (exit 1 if any)")
    datasets.set_defaults(func=command_datasets)
    cache = sub.add_parser("cache", help="list the stored networks and features, which "
                                         "records use them; remove some")
    _add_folder_arguments(cache)
    cache.add_argument("--remove", metavar="METHOD",
                       help="remove every artifact a record of METHOD used")
    cache.add_argument("--prune", action="store_true",
                       help="remove every artifact no current record uses")
    cache.set_defaults(func=command_cache)
    export = sub.add_parser("export-rankings",
                            help="write each method's test rankings as TVRID submission "
                                 "CSVs (rankings_rgb/depth/cross.csv)")
    _add_profile_arguments(export)
    export.add_argument("--to", type=Path, required=True, metavar="DIR",
                        help="folder for <method>/fold<k>/rankings_<track>.csv")
    export.set_defaults(func=command_export_rankings)
    speed = sub.add_parser("speed", help="measure feature extraction and training speed")
    speed.add_argument("--quick", action="store_true", help="smaller batches, fewer repeats")
    speed.set_defaults(func=command_speed)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a scheduler's time limit or preemption), raised where the
    program is, exactly as Ctrl-C raises :class:`KeyboardInterrupt`: atomic writes in
    progress are abandoned cleanly and every finished record is kept."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def _stopped_line(stop: KeyboardInterrupt) -> str:
    """What an interrupted run says: how it was stopped, what finished, how to resume."""
    how = "terminated (SIGTERM)" if isinstance(stop, Terminated) else "interrupted"
    progress = getattr(stop, "progress", None)
    done = (f"{progress[0]} of {progress[1]} tasks finished and saved" if progress
            else "finished tasks are saved")
    return f"rgbd-bench: {how}; {done}; rerun the same command to resume"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rgbd-bench``; bad input ends with one error line and exit code 2,
    Ctrl-C with 130, SIGTERM with 143 (see the README's *Errors*)."""
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)  # only the main thread may handle signals
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["run", *(argv or sys.argv[1:])])
    logging.basicConfig(level=logging.WARNING if getattr(args, "quiet", False)
                        else logging.INFO, format="%(message)s")
    if getattr(args, "debug", False):
        os.environ["RGBD_BENCH_DEBUG"] = "1"
    try:
        return args.func(args)
    except BenchmarkError as error:
        print(f"rgbd-bench: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a folder or file the user named cannot be used
        if os.environ.get("RGBD_BENCH_DEBUG", "") not in ("", "0"):
            raise
        print(f"rgbd-bench: error: {error}; check that path (--debug shows where it "
              f"failed)", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print(_stopped_line(stop), file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``rgbd-bench`` command line (also ``python -m benchmark``)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from benchmark.commands import (
    command_cache,
    command_compare,
    command_datasets,
    command_export_rankings,
    command_methods,
    command_run,
    command_speed,
    command_tables,
)
from benchmark.runs.config import (
    DEFAULT_PROFILE,
    PROFILE_NAMES,
)
from methods.core.errors import BenchmarkError

log = logging.getLogger("rgbd_bench")




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

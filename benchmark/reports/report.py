"""Everything ``rgbd-bench tables`` writes: Tables 1-4 and Figures 3-5 from the records."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from benchmark.datasets.base import cached_frames, get_dataset
from benchmark.reports.ablation_tables import write_ablation_tables
from benchmark.reports.figures import plot_distillation, plot_rankings
from benchmark.reports.figures_cmc import plot_cmc
from benchmark.reports.table_formats import to_markdown
from benchmark.reports.table_statistics import OutcomeStore, outcome_key
from benchmark.reports.tables import (
    PAPER_DATASET_NAMES,
    aggregate,
    build_table,
    deterministic_methods,
    mixed_origins,
    write_tables,
)
from benchmark.runs.config import DEFAULT_PROFILE, PROFILE_NAMES, Profile
from benchmark.runs.planner import RunPlan
from benchmark.runs.provenance import provenance
from benchmark.runs.records import RecordStore, record_seed_index
from benchmark.runs.runner import Paths
from methods.core.errors import BenchmarkError, ConfigError

log = logging.getLogger("rgbd_bench")
FIGURE5_PREFERENCE = ("distill-depth2rgb-softmax", "one-stream", "lomo-xqda")
ONE_SEED_WARNING = ("one training seed per cell: intervals and marks cover test identities "
                    "and gallery draws, not training noise (--seeds N covers it; "
                    "docs/statistics.md)")


def profiles_with_records(output: Path) -> list[str]:
    """The names of the profiles that have records under ``output``."""
    root = Path(output) / "records"
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir()
                  if d.is_dir() and next(d.glob("*/*/fold*.json"), None) is not None)


def records_profile(requested: str | None, paths: Paths) -> str:
    """The profile ``tables`` reads: the one asked for; else the default when it has
    records; else the only built-in profile that has records; else an error naming them."""
    if requested:
        return requested
    found = profiles_with_records(paths.output)
    if not found or DEFAULT_PROFILE in found:
        return DEFAULT_PROFILE
    if len(found) == 1 and found[0] in PROFILE_NAMES:
        log.info("using profile %r, the only one with records under %s", found[0],
                 paths.output / "records")
        return found[0]
    raise ConfigError(f"no records for the default profile {DEFAULT_PROFILE!r} under "
                      f"{paths.output / 'records'}; records exist for {', '.join(found)}: "
                      f"pass --profile NAME (a built-in name or that profile's TOML file, "
                      f"with the same --set/--trials as its run)")


def _selected(records: list[dict], selection: dict[str, Any] | None) -> list[dict]:
    """The records that ``--methods`` and ``--folds`` ask for."""
    methods = (selection or {}).get("methods")
    folds = (selection or {}).get("folds")
    return [r for r in records if (methods is None or r["method"] in methods)
            and (folds is None or r["fold"] < folds)]


def load_outcomes(store: RecordStore, records: list[dict[str, Any]]) -> OutcomeStore:
    """The per-query outcomes of the records that have them; one line says how many
    records have none and why (their cells then get no interval and no test)."""
    found: OutcomeStore = {}
    reasons = []
    for record in records:
        outcomes, reason = store.outcomes(record)
        if outcomes is None:
            reasons.append(reason)
        else:
            found[outcome_key(record)] = outcomes
    if reasons:
        log.warning("%d of %d records have no per-query outcomes (%s): their cells get no "
                    "interval and no significance test; rerun `rgbd-bench run` to add them",
                    len(reasons), len(records), reasons[0])
    return found


def current_records(plan: RunPlan, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records the plan's tasks would make as they are; one line says how many others
    (made with other settings or by older code) are left out."""
    current = [r for r in records if plan.is_current(r)]
    seeds = plan.profile.run.seeds
    beyond = [r for r in records if r not in current and record_seed_index(r) >= seeds]
    if beyond:
        log.warning("%d records of training seeds beyond the %d asked for are left out "
                    "(--seeds N uses them)", len(beyond), seeds)
        records = [r for r in records if record_seed_index(r) < seeds]
    if len(current) < len(records):
        log.warning("%d of %d records of profile %r were made with other settings or by "
                    "older code and are left out; `rgbd-bench run` with the same options "
                    "recomputes them", len(records) - len(current), len(records), plan.name)
    return current


def write_report(plan: RunPlan, paths: Paths, with_paper: bool = False,
                 markdown: bool = False, selection: dict[str, Any] | None = None,
                 significance: bool = True, seed_spread: str = "footnote"
                 ) -> tuple[Path, list[Path]]:
    """Write the tables and figures of every data set the plan's current records cover;
    returns the folder and the files. With one training seed per cell one line warns
    that the intervals and marks do not cover training noise (unless every method has a
    deterministic fit)."""
    profile = plan.profile
    store = paths.record_store(profile)
    records = current_records(plan, _selected(store.all_records(), selection))
    if not records:
        raise BenchmarkError(f"no records for profile {profile.name!r} under "
                             f"{store.root / profile.name} (current ones, with the methods "
                             f"and folds asked for); run `rgbd-bench run` with the same "
                             f"options first")
    out_dir = paths.output / "tables" / plan.variant
    origin = provenance()
    context = {"settings_changes": profile.changes} if plan.variant != profile.name \
        else None
    outcomes = load_outcomes(store, records)
    written = write_tables(records, out_dir, plan.variant, with_paper=with_paper,
                           provenance=origin, context=context, outcomes=outcomes,
                           statistics=profile.statistics, significance=significance,
                           seed_spread=seed_spread)
    trained = {r["method"] for r in records} - deterministic_methods()
    if trained and not any(record_seed_index(r) for r in records):
        log.warning(ONE_SEED_WARNING)
    written += write_ablation_tables(records, out_dir, plan.variant, origin, context)
    summary = aggregate(records)
    for dataset in sorted({r["dataset"] for r in records}):
        mine = [r for r in records if r["dataset"] == dataset]
        if with_paper and dataset not in PAPER_DATASET_NAMES:
            log.warning("no paper numbers exist for data set %r (only for %s): its tables "
                        "have no paper columns", dataset, ", ".join(PAPER_DATASET_NAMES))
        mixed = mixed_origins(mine)
        if mixed:
            log.warning("the %s records of %r were made %s", dataset, plan.variant, mixed)
        number = 4 if dataset == "robotpku" else 3
        written += plot_distillation(summary, dataset, out_dir / f"figure{number}_{dataset}")
        written += plot_cmc(mine, outcomes, dataset, profile.statistics,
                            out_dir / f"cmc_{dataset}")
        written += _figure5(profile, paths, mine, out_dir / f"figure5_{dataset}.png")
        if markdown:
            for kind in ("single", "cross"):
                print(f"\n{kind}-modal, {dataset}\n")
                print(to_markdown(build_table(kind, dataset, summary, with_paper), kind))
    log.info("wrote %d files to %s", len(written), out_dir)
    return out_dir, written


def _figure5(profile: Profile, paths: Paths, records: list[dict], path: Path) -> list[Path]:
    """Figure 5 from the preferred cross-modal method's fold-0 record, if it can be drawn
    from the crop cache as it is (never building one)."""
    by_method = {r["method"]: r for r in records
                 if r["fold"] == 0 and record_seed_index(r) == 0 and r.get("examples")}
    cross = [m for m, r in by_method.items()
             if any(a != b for a, b in (s.split("->") for s in r["examples"]))]
    if not cross or records[0]["dataset"] != profile.run.dataset:
        return []
    method = next((m for m in FIGURE5_PREFERENCE if m in cross), cross[0])
    size = (profile.run.image_size[0], profile.run.image_size[1])
    try:
        frames = cached_frames(get_dataset(profile.run.dataset, **profile.dataset), size,
                               paths.cache)
    except BenchmarkError as error:
        log.warning("figure 5 not drawn: %s", error)
        return []
    if frames is None:
        log.info("figure 5 not drawn: no crop cache of %s under %s (`rgbd-bench run` "
                 "builds it)", profile.run.dataset, paths.cache)
        return []
    drawn = plot_rankings(by_method[method], frames, path)
    return [drawn] if drawn else []

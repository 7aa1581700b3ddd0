"""Everything ``rgbd-bench tables`` writes: Tables 1-4 and Figures 3-5 from the records."""

from __future__ import annotations

import logging
from pathlib import Path

from benchmark.ablation_tables import write_ablation_tables
from benchmark.config import Profile
from benchmark.errors import BenchmarkError
from benchmark.figures import plot_distillation, plot_rankings
from benchmark.provenance import provenance
from benchmark.runner import Paths, open_dataset
from benchmark.tables import aggregate, build_table, to_markdown, write_tables

log = logging.getLogger("rgbd_bench")
FIGURE5_PREFERENCE = ("distill-depth2rgb-softmax", "one-stream", "lomo-xqda")


def write_report(profile: Profile, paths: Paths, with_paper: bool = False,
                 markdown: bool = False) -> list[Path]:
    """Write the tables and figures of every data set the profile's records cover."""
    records = paths.record_store(profile).all_records()
    if not records:
        raise BenchmarkError(f"no records for profile {profile.name!r} under "
                             f"{paths.output / 'records'}; run `rgbd-bench run` first")
    out_dir = paths.output / "tables" / profile.name
    origin = provenance()
    written = write_tables(records, out_dir, profile.name, with_paper=with_paper,
                           provenance=origin)
    written += write_ablation_tables(records, out_dir, profile.name, origin)
    summary = aggregate(records)
    for dataset in sorted({r["dataset"] for r in records}):
        number = 4 if dataset == "robotpku" else 3
        written += plot_distillation(summary, dataset, out_dir / f"figure{number}_{dataset}")
        written += _figure5(profile, paths, [r for r in records if r["dataset"] == dataset],
                            out_dir / f"figure5_{dataset}.png")
        if markdown:
            for kind in ("single", "cross"):
                print(f"\n{kind}-modal, {dataset}\n")
                print(to_markdown(build_table(kind, dataset, summary, with_paper), kind))
    log.info("wrote %d files to %s", len(written), out_dir)
    return written


def _figure5(profile: Profile, paths: Paths, records: list[dict], path: Path) -> list[Path]:
    """Figure 5 from the preferred cross-modal method's fold-0 record, if it can be drawn."""
    by_method = {r["method"]: r for r in records if r["fold"] == 0 and r.get("examples")}
    cross = [m for m, r in by_method.items()
             if any(a != b for a, b in (s.split("->") for s in r["examples"]))]
    if not cross or records[0]["dataset"] != profile.run.dataset:
        return []
    method = next((m for m in FIGURE5_PREFERENCE if m in cross), cross[0])
    try:
        _, frames, _ = open_dataset(profile, paths)
    except BenchmarkError as error:
        log.warning("figure 5 skipped: %s", error)
        return []
    drawn = plot_rankings(by_method[method], frames, path)
    return [drawn] if drawn else []

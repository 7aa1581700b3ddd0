"""Small tables of the distillation ablations (beyond the paper), as CSV and Markdown.

- ``ablation_freeze_<dataset>``: freeze point of step II, ``layer1`` ... ``layer4``
  (methods ``distill-depth2rgb-softmax-freeze-<stage>``).
- ``ablation_bn_<dataset>``: the frozen part's BatchNorm statistics adapting to the
  target modality (the authors' code; ``distill-depth2rgb-softmax``) or fixed
  (``distill-depth2rgb-softmax-bn-fixed``).

Values are mAP and rank-1 in %, mean ± std over folds, for both cross-modal settings.
A table is written for a data set that has records of at least one of its ablation
methods; rows without records are shown as missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.reports.table_formats import format_cell
from benchmark.reports.tables import (
    CROSS_SETTINGS,
    MODALITY_TITLES,
    aggregate,
    table_info,
    write_table_files,
)
from methods.api import freeze_point

BASE = "distill-depth2rgb-softmax"
STAGES = ("layer1", "layer2", "layer3", "layer4")
METRICS = (("mAP", "mAP (%)"), ("rank1", "rank-1 (%)"))


def freeze_rows(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, method) of the freeze-point table; the label names the frozen module."""
    archs = {r["method"]: r.get("method_config", {}).get("network", {}).get("arch")
             for r in records}
    rows = []
    for stage in STAGES:
        method = f"{BASE}-freeze-{stage}"
        arch = archs.get(method)
        label = f"{stage} ({freeze_point(arch, stage)}, {arch})" if arch else stage
        rows.append((label, method))
    return rows


def bn_rows() -> list[tuple[str, str]]:
    return [("adapt (frozen part in train mode; authors' code)", BASE),
            ("fixed (frozen part in eval mode)", f"{BASE}-bn-fixed")]


def ablation_table(summary: pd.DataFrame, dataset: str, rows: list[tuple[str, str]]
                   ) -> pd.DataFrame:
    """Long format: one line per (row, setting) with the metrics' means and stds."""
    lines = []
    mine = summary[summary.dataset == dataset]
    for label, method in rows:
        for query, gallery in CROSS_SETTINGS:
            hit = mine[(mine.method == method) & (mine["query"] == query)
                       & (mine.gallery == gallery)]
            line = {"dataset": dataset, "setting": label, "method": method, "query": query,
                    "gallery": gallery, "n_folds": int(hit.n_folds.iloc[0]) if len(hit) else 0}
            for metric, _ in METRICS:
                for column in (metric, f"{metric}_std"):
                    line[column] = float(hit[column].iloc[0]) if len(hit) else np.nan
            lines.append(line)
    return pd.DataFrame(lines)


def to_markdown(table: pd.DataFrame, first: str) -> str:
    """One row per setting; columns: each cross-modal setting's mAP and rank-1."""
    header = [first]
    for query, gallery in CROSS_SETTINGS:
        prefix = f"Q-{MODALITY_TITLES[query]}/G-{MODALITY_TITLES[gallery]}"
        header += [f"{prefix} {title}" for _, title in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label in dict.fromkeys(table.setting):
        cells = [label]
        for query, gallery in CROSS_SETTINGS:
            line = table[(table.setting == label) & (table["query"] == query)
                         & (table.gallery == gallery)].iloc[0]
            cells += [format_cell(line[m], line[f"{m}_std"]) for m, _ in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_ablation_tables(records: list[dict[str, Any]], out_dir: Path, profile: str = "",
                          provenance: dict[str, Any] | None = None,
                          context: dict[str, Any] | None = None) -> list[Path]:
    """Write ``ablation_freeze_<dataset>`` and ``ablation_bn_<dataset>`` (plain .csv,
    .json provenance side file, .md)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = aggregate(records)
    written = []
    for dataset in sorted({r["dataset"] for r in records}):
        mine = [r for r in records if r["dataset"] == dataset]
        present = {r["method"] for r in mine}
        for kind, rows, first in (("freeze", freeze_rows(mine), "Frozen from"),
                                  ("bn", bn_rows(), "Frozen BatchNorm")):
            if not present & {method for _, method in rows if method != BASE}:
                continue
            table = ablation_table(summary, dataset, rows)
            stem = out_dir / f"ablation_{kind}_{dataset}"
            info = {"table": f"ablation-{kind}",
                    **table_info(records, dataset, profile, context)}
            texts = {".csv": table.to_csv(index=False), ".md": to_markdown(table, first) + "\n"}
            written += write_table_files(stem, texts, info, provenance)
    return written

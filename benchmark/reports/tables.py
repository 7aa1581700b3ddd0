"""Tables 1-4 of the paper from run records, as CSV, LaTeX (booktabs) and Markdown.

Tables 1/2 (single-modal, step I) and 3/4 (cross-modal) keep the paper's rows, columns
and order. BIWI gets Tables 1 and 3, RobotPKU Tables 2 and 4; any other data set (the
synthetic one) gets the BIWI layout. Methods outside the paper's rows (the pixel floor,
plugins) follow the paper's rows. A row without records is shown as missing, never
filled in; the Eigen-depth rows of Table 3 are the numbers Zhuo et al. reported, marked
as reported. Values are percentages: the mean over folds of each fold's mean over trials,
± the standard deviation over folds (sample, ddof=1; none for a single fold). With
several training seeds (``--seeds N``) a fold's value is first averaged over its seeds,
and each cell also gets the standard deviation over seeds of the per-seed means over
folds (CSV ``<metric>_seed_std`` and ``n_seeds``, Markdown ``(seeds ± s)``, LaTeX a
footnote or a column); tables of one seed keep their columns as they were.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.reports.table_formats import (
    CROSS_SETTINGS,
    METRICS,
    MODALITY_TITLES,
    PAPER_DATASET_NAMES,
    Marks,
    caption,
    significance_note,
    to_latex,
    to_markdown,
)
from benchmark.reports.table_statistics import (
    DatasetResampling,
    OutcomeStore,
    cell_outcomes,
    marks,
    pairwise_tests,
)
from benchmark.runs.config import StatisticsConfig
from benchmark.runs.provenance import machine_label
from benchmark.runs.records import record_seed_index
from methods.core.atomic import write_bytes_atomic, write_text_atomic


@dataclass(frozen=True)
class Row:
    """A row of a paper table: its label(s) and the method that fills it."""

    label: str
    method: str | None
    loss: str = ""
    reported_only: bool = False


SINGLE_ROWS = (
    Row("RGB", "resnet-rgb-triplet", "Triplet"),
    Row("RGB", "resnet-rgb-softmax", "Softmax"),
    Row("Depth", "resnet-depth-triplet", "Triplet"),
    Row("Depth", "resnet-depth-softmax", "Softmax"),
    Row("Depth", "eigen-depth-euclidean", "Eigen-depth, Euclidean"),
)
CROSS_ROWS_HEAD = (
    Row("WHOS, Euclidean", "whos-euclidean"),
    Row("WHOS, XQDA", "whos-xqda"),
    Row("LOMO, Euclidean", "lomo-euclidean"),
    Row("LOMO, XQDA", "lomo-xqda"),
)
# Zhuo et al.'s reported rows (BIWI only), each followed by our run of it where one exists.
EIGEN_DEPTH_REPORTED = {m: Row(f"Eigen-depth HOG/SLTP, {m}", None, reported_only=True)
                        for m in ("CCA", "LSSCDL", "Corr. Dict.")}
EIGEN_DEPTH_OURS = {"CCA": Row("Eigen-depth HOG/SLTP, CCA (ours)", "eigen-depth-cca"),
                    "LSSCDL": Row("Eigen-depth HOG/SLTP, LSSCDL (ours)", "eigen-depth-lsscdl")}
CROSS_ROWS_TAIL = (
    Row("Zero-padding network", "zero-padding"),
    Row("One-stream network", "one-stream"),
    Row("Cross-modal distillation network", "distill-depth2rgb-softmax"),
)


def table_numbers(dataset: str) -> tuple[int, int]:
    """(single-modal, cross-modal) table numbers of a data set's layout."""
    return (2, 4) if dataset == "robotpku" else (1, 3)


def layout(kind: str, dataset: str) -> tuple[Row, ...]:
    """The paper's rows of the ``single`` or ``cross`` table of ``dataset``."""
    if kind == "single":
        return SINGLE_ROWS
    eigen: tuple[Row, ...] = ()
    for m, reported in EIGEN_DEPTH_REPORTED.items():
        eigen += ((reported,) if dataset == "biwi" else ()) + (
            (EIGEN_DEPTH_OURS[m],) if m in EIGEN_DEPTH_OURS else ())
    return CROSS_ROWS_HEAD + eigen + CROSS_ROWS_TAIL


CELL_KEYS = ["dataset", "method", "query", "gallery"]


def aggregate(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (dataset, method, query, gallery): mean and std over folds, in %;
    with several training seeds (some record of seed index > 0) also ``n_seeds`` and
    each metric's ``_seed_std``: the std over seeds of each seed's mean over folds."""
    rows = []
    for record in records:
        for setting, result in record["results"].items():
            query, gallery = setting.split("->")
            rows.append({"dataset": record["dataset"], "method": record["method"],
                         "fold": record["fold"], "seed": record_seed_index(record),
                         "query": query, "gallery": gallery,
                         **{m: 100.0 * result[m] for m in METRICS}})
    columns = ["dataset", "method", "query", "gallery", "n_folds",
               *[c for m in METRICS for c in (m, f"{m}_std")]]
    if not rows:
        return pd.DataFrame(columns=columns)
    # Sums over folds and seeds in one order whatever order the records were read in
    # (their files are named by identity hashes); cells keep their order of appearance.
    frame = pd.DataFrame(rows).sort_values(["fold", "seed"], kind="stable")
    seeded = bool((frame.seed > 0).any())
    if seeded:  # a fold's value: the mean over its seeds
        folds = frame.groupby([*CELL_KEYS, "fold"], sort=False)[list(METRICS)].mean()
        folds = folds.reset_index()
    else:
        folds = frame
    grouped = folds.groupby(CELL_KEYS, sort=False)
    out = grouped[list(METRICS)].mean()
    std = grouped[list(METRICS)].std(ddof=1).add_suffix("_std")
    out = out.join(std)
    out["n_folds"] = grouped.size()
    if seeded:
        per_seed = frame.groupby([*CELL_KEYS, "seed"], sort=False)[list(METRICS)].mean()
        by_cell = per_seed.groupby(level=CELL_KEYS, sort=False)
        out = out.join(by_cell.std(ddof=1).add_suffix("_seed_std"))
        out["n_seeds"] = by_cell.size()
        columns = [*columns[:5], "n_seeds",
                   *[c for m in METRICS for c in (m, f"{m}_std", f"{m}_seed_std")]]
    return out.reset_index()[columns]


def reported_numbers() -> pd.DataFrame:
    """The paper's reported tables (``benchmark/data/reported_tables.csv``)."""
    with resources.files("benchmark.data").joinpath("reported_tables.csv").open() as f:
        return pd.read_csv(f)


def _extra_rows(kind: str, dataset: str, summary: pd.DataFrame) -> tuple[Row, ...]:
    known = {row.method for row in layout(kind, dataset)}
    mine = summary[summary.dataset == dataset]
    single = mine["query"] == mine["gallery"]
    methods = mine[single if kind == "single" else ~single]["method"].unique()
    return tuple(Row(m, m) for m in methods if m not in known and not _is_ablation(m))


def _is_ablation(method: str) -> bool:
    """Ablation variants go to their own tables (:mod:`benchmark.reports.ablation_tables`)."""
    from methods.core.registry import available_methods

    cls = available_methods().get(method)
    return cls is not None and cls.ablation


def _paper_row(paper: pd.DataFrame, dataset: str, kind: str, row: Row, query: str,
               gallery: str) -> pd.Series | None:
    name = PAPER_DATASET_NAMES.get(dataset)
    if name is None:
        return None
    approach = "single-modal ResNet50" if kind == "single" else row.label
    hits = paper[(paper.dataset == name) & (paper.approach == approach)
                 & (paper["query"] == MODALITY_TITLES[query])
                 & (paper.gallery == MODALITY_TITLES[gallery])]
    if kind == "single":
        hits = hits[hits["loss"].str.lower() == row.loss.lower()]
    return None if hits.empty else hits.iloc[0]


def build_table(kind: str, dataset: str, summary: pd.DataFrame, with_paper: bool = False,
                intervals: dict[tuple[str, str, str, str], tuple[float, float]] | None = None
                ) -> pd.DataFrame:
    """A paper table in long form: one line per (row, setting), paper rows first.

    Columns: ``table, dataset, approach, loss, query, gallery, source, n_folds`` and each
    metric with its ``_std``, ``_ci_low`` and ``_ci_high`` (the 95 % interval from
    ``intervals``, keyed by (method, query, gallery, metric); empty without); with
    ``with_paper`` also ``paper_<metric>`` and ``diff_<metric>`` (ours minus paper)
    where the paper reports the number. When ``summary`` has several training seeds,
    also ``n_seeds`` and each metric's ``_seed_std``.
    """
    seeded = "n_seeds" in summary.columns
    number = table_numbers(dataset)[0 if kind == "single" else 1]
    with_paper = with_paper and dataset in PAPER_DATASET_NAMES  # no empty paper columns
    paper = reported_numbers()
    lines = []
    for row in layout(kind, dataset) + _extra_rows(kind, dataset, summary):
        settings = ((row.label.lower(), row.label.lower()),) if kind == "single" \
            else CROSS_SETTINGS
        for query, gallery in settings:
            reported = _paper_row(paper, dataset, kind, row, query, gallery)
            line: dict[str, Any] = {"table": number, "dataset": dataset,
                                    "approach": row.label if kind == "cross" else
                                    "single-modal", "loss": row.loss,
                                    "method": row.method or "", "query": query,
                                    "gallery": gallery}
            if row.reported_only:
                line.update({"source": "reported (Zhuo et al., CCCV 2017)", "n_folds": 0})
                if seeded:
                    line["n_seeds"] = 0
                line.update({m: reported[m] if reported is not None else np.nan
                             for m in METRICS})
            else:
                hit = summary[(summary.dataset == dataset) & (summary.method == row.method)
                              & (summary["query"] == query) & (summary.gallery == gallery)]
                line["source"] = "this run" if len(hit) else "missing"
                line["n_folds"] = int(hit.n_folds.iloc[0]) if len(hit) else 0
                if seeded:
                    line["n_seeds"] = int(hit.n_seeds.iloc[0]) if len(hit) else 0
                for m in METRICS:
                    line[m] = hit[m].iloc[0] if len(hit) else np.nan
                    line[f"{m}_std"] = hit[f"{m}_std"].iloc[0] if len(hit) else np.nan
                    if seeded:
                        line[f"{m}_seed_std"] = hit[f"{m}_seed_std"].iloc[0] \
                            if len(hit) else np.nan
                    low, high = (intervals or {}).get((row.method, query, gallery, m),
                                                      (np.nan, np.nan))
                    line[f"{m}_ci_low"], line[f"{m}_ci_high"] = low, high
            if with_paper:
                for m in METRICS:
                    value = reported[m] if reported is not None else np.nan
                    line[f"paper_{m}"] = value
                    line[f"diff_{m}"] = line[m] - value if not row.reported_only else np.nan
            lines.append(line)
    return pd.DataFrame(lines)


def runs_provenance(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a table's numbers come from: the commits, dates, trials, protocols, seeds and
    profile settings of the records it aggregates (``written`` in the side file says when
    and by which code the table was written, which may be later)."""
    def values(section: str, key: str) -> list[Any]:
        return sorted({r[section][key] for r in records if key in r.get(section, {})})

    dates = values("provenance", "date")
    found = origins(records)
    return {"records": len(records), "commits": values("provenance", "commit"),
            "first_date": dates[0] if dates else None,
            "last_date": dates[-1] if dates else None,
            "trials": values("config", "trials"), "protocols": values("config", "protocol"),
            "seeds": values("config", "seed"), "crops": found["crops"],
            "machines": found["machines"], "mixed": _mixed(found)}


def origins(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The distinct commits, crop sets and machines that made ``records``."""
    return {"commits": sorted({str(r.get("provenance", {}).get("commit")) for r in records}),
            "crops": sorted({str(r.get("crops")) for r in records if r.get("crops")}),
            "machines": sorted({machine_label(r.get("provenance", {}).get("hardware", {}))
                                for r in records})}


def mixed_origins(records: list[dict[str, Any]]) -> str:
    """One phrase saying which of code, data and machine differ among ``records`` (every
    one is the current record of its task, but their last bits can still differ), or
    ``""`` when they share all three."""
    return _mixed(origins(records))


def _mixed(found: dict[str, list[str]]) -> str:
    parts = []
    if len(found["commits"]) > 1:
        parts.append(f"by different code (commits {', '.join(found['commits'])})")
    if len(found["crops"]) > 1:
        parts.append(f"on different data ({len(found['crops'])} crop sets)")
    if len(found["machines"]) > 1:
        parts.append(f"on different machines ({'; '.join(found['machines'])})")
    return ", ".join(parts)


def table_info(records: list[dict[str, Any]], dataset: str, profile: str,
               context: dict[str, Any] | None = None) -> dict[str, Any]:
    """The provenance block of one data set's table: what, from which runs.

    ``context`` adds what else describes the table (e.g. the settings that made the
    profile a variant); everything here follows from the records, so the same records
    give the same block.
    """
    mine = [r for r in records if r["dataset"] == dataset]
    return {"dataset": dataset, "profile": profile,
            "folds": sorted({r["fold"] for r in mine}), **(context or {}),
            "runs": runs_provenance(mine)}


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def write_table_files(stem: Path, texts: dict[str, str], info: dict[str, Any],
                      written: dict[str, Any] | None) -> list[Path]:
    """Write a table's files (``texts`` by suffix) and its ``.json`` side file.

    The side file holds ``info`` and, under ``written``, the commit, date and versions
    that wrote it. When the files already hold exactly this table from the same records,
    nothing is rewritten: a rerun leaves tracked files byte-identical.
    """
    sidecar = stem.with_suffix(".json")
    paths = [stem.with_suffix(suffix) for suffix in texts] + [sidecar]
    try:
        previous = json.loads(sidecar.read_text())
        previous.pop("written", None)
        same = previous == _as_json(info) and all(
            stem.with_suffix(suffix).read_text() == text for suffix, text in texts.items())
    except (OSError, ValueError, AttributeError):
        same = False
    if same:
        return paths
    for suffix, text in texts.items():
        write_text_atomic(stem.with_suffix(suffix), text)
    write_text_atomic(sidecar, json.dumps({**info, "written": written or {}}, indent=1,
                                          sort_keys=True, default=str) + "\n")
    return paths


def deterministic_methods() -> set[str]:
    """The registered methods whose one record stands for every training seed."""
    from methods.core.registry import available_methods

    return {name for name, cls in available_methods().items() if cls.deterministic_fit}


def table_statistics(kind: str, dataset: str, table: pd.DataFrame,
                     records: list[dict[str, Any]], outcomes: OutcomeStore,
                     resampling: DatasetResampling, significance: bool
                     ) -> tuple[dict, pd.DataFrame | None, Marks | None]:
    """Intervals of every measured cell with outcomes, the pairwise tests of the table
    and its marks (``None`` without tests)."""
    settings = list(CROSS_SETTINGS) if kind == "cross" else \
        [(q, q) for q in dict.fromkeys(table["query"])]
    cells = {}
    for method in dict.fromkeys(table.method[table.source == "this run"]):
        for query, gallery in settings:
            folds = cell_outcomes(records, outcomes, dataset, method, query, gallery)
            if folds is not None:
                cells[(method, query, gallery)] = folds
    intervals = {(*cell, m): resampling.interval(cell, m, folds)
                 for cell, folds in cells.items() for m in METRICS}
    if not significance:
        return intervals, None, None
    # single-modal rows are compared within a modality (each its own column block)
    pairwise = pairwise_tests(cells, resampling, METRICS, settings, deterministic_methods())
    means = {(*cell, m): 100.0 * resampling.sums(cell, m, folds)[0].value()
             for cell, folds in cells.items() for m in METRICS}
    marked = marks(pairwise, means, resampling.config.alpha)
    if kind == "single":  # one column per metric holds both modalities: best of both
        marked = _single_table_marks(table, marked, means)
    return intervals, pairwise, marked


def _single_table_marks(table: pd.DataFrame, marked: Marks, means: dict) -> Marks:
    """Tables 1-2 print RGB and depth rows in one column: keep the marks of the modality
    that holds the column's best value."""
    out = set()
    for m in METRICS:
        column = {k: v for k, v in means.items() if k[3] == m}
        if not column:
            continue
        top = max(column, key=column.get)
        out |= {k for k in marked if k[3] == m and k[1] == top[1]}
    return out


def write_tables(records: list[dict[str, Any]], out_dir: Path, profile: str,
                 with_paper: bool = False, provenance: dict[str, Any] | None = None,
                 context: dict[str, Any] | None = None,
                 outcomes: OutcomeStore | None = None,
                 statistics: StatisticsConfig | None = None,
                 significance: bool = True, seed_spread: str = "footnote") -> list[Path]:
    """Write every table of every data set in ``records``; returns the files written.

    CSV files are plain (one header line, loadable by ``pandas.read_csv``); the
    provenance is in the ``.json`` side file. With ``outcomes`` (per-query outcomes by
    record) every cell gets its interval and, with ``significance``, the rows are tested
    pairwise (``pairwise<N>_<dataset>.csv``, long format) and marked. ``seed_spread``:
    how LaTeX shows the std over training seeds (:func:`to_latex`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = aggregate(records)
    statistics = statistics or StatisticsConfig()
    written = []
    for dataset in sorted({r["dataset"] for r in records}):
        resampling = DatasetResampling.of(outcomes or {}, dataset, statistics)
        for kind, number in zip(("single", "cross"), table_numbers(dataset), strict=True):
            table = build_table(kind, dataset, summary, with_paper)
            intervals, pairwise, marked = ({}, None, None) if resampling is None else \
                table_statistics(kind, dataset, table, records, outcomes or {}, resampling,
                                 significance)
            table = build_table(kind, dataset, summary, with_paper, intervals)
            note = significance_note(statistics if significance else None,
                                     tested=marked is not None,
                                     seeds=int(table.get("n_seeds", pd.Series([1])).max()))
            info = {"table": number, **table_info(records, dataset, profile, context)}
            if marked is not None:
                info["statistics"] = dataclasses.asdict(statistics)
            texts = {".csv": table.to_csv(index=False),
                     ".tex": to_latex(table, kind, caption(kind, dataset, number, profile,
                                                           note),
                                      label=f"tab:{profile}-table{number}-{dataset}",
                                      marks=marked, seed_spread=seed_spread),
                     ".md": to_markdown(table, kind, marked) + "\n"}
            stem = out_dir / f"table{number}_{dataset}"
            written += write_table_files(stem, texts, info, provenance)
            stale = out_dir / f"pairwise{number}_{dataset}.csv"
            if pairwise is None:  # no tests this time: an older file would mislead
                stale.unlink(missing_ok=True)
            else:
                pairwise.insert(0, "dataset", dataset)
                pairwise.insert(0, "table", number)
                write_text_if_changed(stale, pairwise.to_csv(index=False))
                written.append(stale)
    return written


def write_text_if_changed(path: Path, text: str) -> None:
    """Write ``text`` atomically unless the file already holds it (tracked files stay
    byte-identical on a rerun)."""
    try:
        if path.read_text() == text:
            return
    except OSError:
        pass
    write_bytes_atomic(path, text.encode())

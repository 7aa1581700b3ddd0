"""Tables as text: cells, Markdown and LaTeX (booktabs), captions and their notes."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from benchmark.runs.config import StatisticsConfig

METRICS = ("rank1", "rank5", "rank10", "mAP")
METRIC_TITLES = {"rank1": "rank-1 (%)", "rank5": "rank-5 (%)", "rank10": "rank-10 (%)",
                 "mAP": "mAP (%)"}
MODALITY_TITLES = {"rgb": "RGB", "depth": "Depth"}
CROSS_SETTINGS = (("rgb", "depth"), ("depth", "rgb"))
PAPER_DATASET_NAMES = {"biwi": "BIWI", "robotpku": "RobotPKU"}
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$",
                  "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                  "|": r"\textbar{}", "±": r"$\pm$", "–": "--", "→": r"$\rightarrow$"}
LATEX_PACKAGES = ("booktabs", "array", "graphicx")
LATEX_HEADER = ("% Needs " + ", ".join(f"\\usepackage{{{name}}}" for name in LATEX_PACKAGES)
                + " (booktabs rules; array wraps long row labels; graphicx shrinks the "
                  "table when it is still wider than the line).")
Marks = set[tuple[str, str, str, str]]
SEED_SPREAD = ("footnote", "column")
METRIC_DEFINITIONS = ("Rank-k: single-shot galleries (one image per identity), mean over "
                      "trials; mAP: multi-shot, over every test image of the gallery "
                      "modality but the query's twin.")


def latex_escape(text: str) -> str:
    """``text`` with every LaTeX special character escaped, so any string typesets."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def format_cell(mean: float, std: float, bold: bool = False, latex: bool = False,
                interval: tuple[float, float] | None = None,
                seed_std: float | None = None) -> str:
    """``12.34 ± 0.56 [11.02, 13.70]`` (Markdown, with the interval when given; with
    ``seed_std``, the std over training seeds, ``12.34 ± 0.56 (seeds ± 0.40) [...]``) or
    the LaTeX math ``12.3{\\pm}0.6`` (one decimal, as the paper prints, so that Table 3
    fits a page); bold when marked; missing -> ``–``."""
    if mean is None or np.isnan(mean):
        return "--" if latex else "–"
    if latex:
        text = f"{mean:.1f}" if np.isnan(std) else f"{mean:.1f}{{\\pm}}{std:.1f}"
        return f"$\\mathbf{{{text}}}$" if bold else f"${text}$"
    text = f"{mean:.2f}" if np.isnan(std) else f"{mean:.2f} ± {std:.2f}"
    if seed_std is not None and not np.isnan(seed_std):
        text += f" (seeds ± {seed_std:.2f})"
    if interval is not None and not np.isnan(interval[0]):
        text += f" [{interval[0]:.2f}, {interval[1]:.2f}]"
    return f"**{text}**" if bold else text


def _best_only(table: pd.DataFrame, settings: list[tuple[str | None, str | None]]) -> Marks:
    """Each column's best measured value: the marks when no test can be made."""
    measured = table[table.source == "this run"]
    marked = set()
    for query, gallery in settings:
        part = measured if query is None else measured[(measured["query"] == query)
                                                       & (measured.gallery == gallery)]
        for m in METRICS:
            if len(part) and part[m].notna().any():
                top = part[m].max()
                marked |= {(r.method, r.query, r.gallery, m) for r in
                           part[part[m] == top].itertuples()}
    return marked


def _seed_std(line: pd.Series, metric: str) -> float:
    value = line.get(f"{metric}_seed_std", np.nan)
    return np.nan if value is None or pd.isna(value) else float(value)


def _grid(table: pd.DataFrame, kind: str, latex: bool, marks: Marks | None = None,
          seed_column: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the paper's printed layout; ``marks`` (method, query, gallery,
    metric) are bold (default: each column's best measured value). Markdown cells carry
    the std over seeds where the table has several; ``seed_column`` (LaTeX) gives it a
    column after each metric's."""
    settings = [(None, None)] if kind == "single" else list(CROSS_SETTINGS)
    if marks is None:
        marks = _best_only(table, settings)
    row_keys = list(dict.fromkeys(zip(table.approach, table.loss, table.method,
                                      table["query"], strict=True)))
    if kind == "cross":
        row_keys = list(dict.fromkeys((a, lo, me) for a, lo, me, _ in row_keys))
    header = ["Modality", "Loss"] if kind == "single" else ["Approach"]
    for query, gallery in settings:
        prefix = "" if query is None else f"Q-{MODALITY_TITLES[query]}/G-" \
                                          f"{MODALITY_TITLES[gallery]} "
        header += [title for m in METRICS for title in
                   (prefix + METRIC_TITLES[m], *(["seeds std"] if seed_column else []))]
    cells = []
    for key in row_keys:
        if kind == "single":
            lines = table[(table.loss == key[1]) & (table.method == key[2])
                          & (table["query"] == key[3])]
            row = [MODALITY_TITLES[key[3]], key[1]]
        else:
            lines = table[(table.approach == key[0]) & (table.method == key[2])]
            reported = lines.source.str.startswith("reported").all()
            label = key[0] + (" (reported by [16])" if reported else "")
            row = [label]
        for query, gallery in settings:
            line = lines.iloc[0] if query is None else \
                lines[(lines["query"] == query) & (lines.gallery == gallery)].iloc[0]
            for m in METRICS:
                std = line.get(f"{m}_std", np.nan)
                std = np.nan if std is None or pd.isna(std) else std
                interval = (line.get(f"{m}_ci_low", np.nan), line.get(f"{m}_ci_high", np.nan))
                bold = line.source == "this run" and \
                    (line.method, line["query"], line.gallery, m) in marks
                row.append(format_cell(line[m], std, bold=bool(bold), latex=latex,
                                       interval=None if latex else interval,
                                       seed_std=None if latex else _seed_std(line, m)))
                if seed_column:
                    spread = _seed_std(line, m)
                    row.append("--" if np.isnan(spread) else f"${spread:.1f}$")
        cells.append(row)
    return header, cells


def to_markdown(table: pd.DataFrame, kind: str, marks: Marks | None = None) -> str:
    """The table as a Markdown grid in the paper's layout (cells with their intervals)."""
    header, cells = _grid(table, kind, latex=False, marks=marks)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def to_latex(table: pd.DataFrame, kind: str, caption: str, label: str = "",
             marks: Marks | None = None, seed_spread: str = "footnote") -> str:
    """The table as a booktabs LaTeX float in the paper's layout.

    Cross-modal tables are a ``table*`` (both columns of a two-column page) with a
    two-level header, the two directions over rank-1/5/10/mAP; single-modal ones a
    ``table``. The tabular shrinks to the line width only when it would run past it.
    ``caption`` is plain text (escaped here); LaTeX numbers the float itself. A table
    with several training seeds shows their spread (``seed_spread``): ``footnote``, a
    line under the tabular with the median and largest std over seeds, or ``column``,
    a column "s" after each metric's.
    """
    if seed_spread not in SEED_SPREAD:
        raise ValueError(f"seed_spread must be one of {SEED_SPREAD}, got {seed_spread!r}")
    seeded = "n_seeds" in table.columns
    seed_column = seeded and seed_spread == "column"
    header, cells = _grid(table, kind, latex=True, marks=marks, seed_column=seed_column)
    n_labels = 2 if kind == "single" else 1
    float_env = "table" if kind == "single" else "table*"
    labels = "ll" if kind == "single" else ">{\\raggedright\\arraybackslash}p{9em}"
    spec = labels + "c" * (len(header) - n_labels)
    out = [LATEX_HEADER, f"\\begin{{{float_env}}}[t]", "\\centering",
           f"\\caption{{{latex_escape(caption)}}}"]
    if label:
        out.append(f"\\label{{{re.sub(r'[^A-Za-z0-9:.-]', '-', label)}}}")
    out += ["\\footnotesize", "\\setlength{\\tabcolsep}{3pt}",
            "\\resizebox{\\ifdim\\width>\\linewidth\\linewidth\\else\\width\\fi}{!}{%",
            f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    short = {"rank1": "R-1", "rank5": "R-5", "rank10": "R-10", "mAP": "mAP"}
    extra = ["s"] if seed_column else []
    if kind == "cross":
        span = len(METRICS) * (1 + len(extra))
        out.append(f" & \\multicolumn{{{span}}}{{c}}{{Query RGB, gallery depth (\\%)}} & "
                   f"\\multicolumn{{{span}}}{{c}}{{Query depth, gallery RGB (\\%)}} \\\\")
        out.append(f"\\cmidrule(lr){{2-{1 + span}}} "
                   f"\\cmidrule(lr){{{2 + span}-{1 + 2 * span}}}")
        titles = ["Approach"] + [t for m in METRICS for t in (short[m], *extra)] * 2
    else:
        titles = header[:2] + [t for m in METRICS for t in (f"{short[m]} (\\%)", *extra)]
    out.append(" & ".join(t if "\\%" in t else latex_escape(t) for t in titles) + " \\\\")
    out.append("\\midrule")
    for row in cells:
        out.append(" & ".join([latex_escape(c) for c in row[:n_labels]] + row[n_labels:])
                   + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}}"]
    if seeded:
        out.append(f"\\par\\smallskip{{\\scriptsize {seed_note(table, seed_column)}}}")
    out.append(f"\\end{{{float_env}}}")
    return "\n".join(out) + "\n"


def seed_note(table: pd.DataFrame, seed_column: bool) -> str:
    """The LaTeX line under a table of several training seeds: how many per cell and,
    without a seed column, the median and largest std over seeds."""
    measured = table[table.source == "this run"]
    counts = sorted({int(n) for n in measured.n_seeds if n > 0})
    spreads = measured[[f"{m}_seed_std" for m in METRICS]].to_numpy(dtype=float)
    spreads = spreads[~np.isnan(spreads)]
    text = (f"Training seeds per cell: {latex_escape(', '.join(map(str, counts)))} (one: a "
            f"method with a deterministic fit).")
    if seed_column:
        return text + " s: standard deviation over seeds of the per-seed means (\\%)."
    if not len(spreads):
        return text
    return (text + f" Standard deviation over seeds of the per-seed means: median "
            f"{np.median(spreads):.1f}, largest {spreads.max():.1f} (\\%; per cell in the "
            f"CSV and Markdown files).")


def significance_note(statistics: StatisticsConfig | None, tested: bool,
                      seeds: int = 1) -> str:
    """The caption's sentence on the marks and intervals; ``seeds``: the most training
    seeds a cell has (1: the identity-only rule, which does not cover them)."""
    if statistics is None:
        return "Bold: the best value of each column."
    if not tested:
        return ("Bold: the best value of each column (the records hold no per-query "
                "outcomes, so no interval or test).")
    if seeds > 1:
        return (f"Bold: the best value of each column and every value not significantly "
                f"below it (paired test over training seeds and test identities, seed by "
                f"seed, with each stage's t quantile, Holm-corrected over the table's "
                f"comparisons with the best, alpha = {statistics.alpha:g}). "
                f"{100 * statistics.confidence:g} % intervals (CSV, Markdown): two-stage "
                f"over up to {seeds} training seeds and the test identities; they cover "
                f"training seeds, the choice of test identities and gallery draws. A method "
                f"with a deterministic fit has one record for every seed.")
    return (f"Bold: the best value of each column and every value not significantly "
            f"below it (paired sign-flip permutation test over test identities, "
            f"{statistics.permutations} flips, Holm-corrected over the table's comparisons "
            f"with the best, alpha = {statistics.alpha:g}). "
            f"{100 * statistics.confidence:g} % intervals (CSV, Markdown): cluster "
            f"bootstrap over test identities, {statistics.resamples} resamples; they cover "
            f"the choice of test identities and gallery draws, not training seeds.")


def caption(kind: str, dataset: str, number: int, profile: str,
            note: str = "Bold: the best value of each column.") -> str:
    """A table's caption, plain text (LaTeX adds the float's number itself)."""
    name = PAPER_DATASET_NAMES.get(dataset, dataset)
    what = "Single-modal (step I) accuracy" if kind == "single" else \
        "Cross-modal accuracy"
    return (f"{what} on {name} (profile {profile}, Table {number} of the paper's layout), "
            f"mean ± std over folds, in %. {METRIC_DEFINITIONS} {note}")

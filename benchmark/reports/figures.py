"""Figures from run records: distillation variants (Figures 3-4) and rankings (Figure 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from features.depth import depth_to_image  # noqa: E402
from methods.core.atomic import atomic_path  # noqa: E402
from methods.core.frames import PairedFrames  # noqa: E402

DISTILLATION_VARIANTS = (
    ("distill-depth2rgb-triplet", "Depth → RGB, triplet"),
    ("distill-depth2rgb-softmax", "Depth → RGB, softmax"),
    ("distill-rgb2depth-triplet", "RGB → Depth, triplet"),
    ("distill-rgb2depth-softmax", "RGB → Depth, softmax"),
)
SETTING_LABELS = {("rgb", "depth"): "Q: RGB, G: Depth", ("depth", "rgb"): "Q: Depth, G: RGB"}


def plot_distillation(summary: pd.DataFrame, dataset: str, stem: Path) -> list[Path]:
    """Bar chart of mAP (mean ± std over folds) of the four distillation variants.

    Variants without records are left out of the chart and named in its title; returns
    the PNG and PDF written, or nothing when no variant has records.
    """
    mine = summary[summary.dataset == dataset]
    present = [(m, label) for m, label in DISTILLATION_VARIANTS if m in set(mine.method)]
    if not present:
        return []
    figure, axis = plt.subplots(figsize=(6.5, 3.2))
    height = 0.38
    for offset, (setting, label) in enumerate(SETTING_LABELS.items()):
        part = mine[(mine["query"] == setting[0]) & (mine.gallery == setting[1])]
        means = [part[part.method == m]["mAP"].mean() for m, _ in present]
        stds = [np.nan_to_num(part[part.method == m]["mAP_std"].mean()) for m, _ in present]
        positions = np.arange(len(present)) + (offset - 0.5) * height
        axis.barh(positions, means, height, xerr=stds, label=label, capsize=3)
    axis.set_yticks(np.arange(len(present)), [label for _, label in present])
    axis.invert_yaxis()
    axis.set_xlabel("mAP (%)")
    missing = [label for m, label in DISTILLATION_VARIANTS if (m, label) not in present]
    axis.set_title(f"Cross-modal distillation on {dataset}"
                   + (f" (no records: {', '.join(missing)})" if missing else ""), fontsize=9)
    axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(figure, stem)


def save_figure(figure: plt.Figure, stem: Path) -> list[Path]:
    """Save ``figure`` as ``stem``.png and .pdf and close it; returns the two paths.

    No creation date in the PDF: the same records give the same bytes.
    """
    figure.tight_layout()
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    for path in paths:
        metadata = {"CreationDate": None} if path.suffix == ".pdf" else None
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=150, metadata=metadata)
    plt.close(figure)
    return paths


def _show(frames: PairedFrames, index: int, modality: str) -> np.ndarray:
    if modality == "rgb":
        return np.asarray(frames.rgb[index])
    return depth_to_image(np.asarray(frames.depth[index:index + 1]), "colormap")[0]


def plot_rankings(record: dict[str, Any], frames: PairedFrames, path: Path,
                  queries: int = 3) -> Path | None:
    """The paper's Figure 5: queries and their top-ranked gallery images, true match framed."""
    examples = record.get("examples") or {}
    rows = [(setting, e) for setting, items in examples.items() if "->" in setting
            and setting.split("->")[0] != setting.split("->")[1] for e in items[:queries]]
    if not rows:
        return None
    index_of = {int(f): i for i, f in enumerate(np.asarray(frames.frames))}
    top = max(len(e["gallery_frames"]) for _, e in rows)
    figure, axes = plt.subplots(len(rows), top + 1, figsize=(1.1 * (top + 1), 2.0 * len(rows)),
                                squeeze=False)
    for r, (setting, example) in enumerate(rows):
        query, gallery = setting.split("->")
        axes[r, 0].imshow(_show(frames, index_of[example["query_frame"]], query))
        axes[r, 0].set_title(f"Q ({query})", fontsize=7)
        for c, (frame, pid) in enumerate(zip(example["gallery_frames"],
                                             example["gallery_pids"], strict=True), start=1):
            axis = axes[r, c]
            axis.imshow(_show(frames, index_of[frame], gallery))
            correct = pid == example["query_pid"]
            for spine in axis.spines.values():
                spine.set_visible(correct)
                spine.set_color("limegreen")
                spine.set_linewidth(3)
            axis.set_title(f"{c}", fontsize=7)
        for axis in axes[r]:
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"{record['method']} on {record['dataset']}, fold {record['fold']} "
                    f"(green: correct match)", fontsize=8)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=150)
    plt.close(figure)
    return path

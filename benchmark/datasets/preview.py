"""A picture of a data set: RGB and depth crops of a few identities side by side.

Where frames carry them, the depth panels show the person mask's outline and the
skeleton's known joints (what Eigen-depth uses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from methods.core.atomic import atomic_path
from methods.core.frames import PairedFrames


def depth_colours(depth: np.ndarray, cmap: str = "turbo") -> np.ndarray:
    """(h, w) uint16 mm -> (h, w, 3) float RGB: near red, far blue, missing black.

    The colour range is the crop's 2nd to 98th percentile of valid readings.
    """
    valid = depth > 0
    if not valid.any():
        return np.zeros(depth.shape + (3,))
    near, far = np.percentile(depth[valid], [2, 98])
    scaled = np.clip((far - depth.astype(np.float64)) / max(far - near, 1.0), 0.0, 1.0)
    colours = colormaps[cmap](scaled)[..., :3]
    return np.where(valid[..., None], colours, 0.0)


def joint_pixels(joints: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """(k, 2) crop pixels (u, v) of joints (k, 3) in metres (Y up) seen with ``intrinsics``."""
    fx, fy, cx, cy = intrinsics
    return np.column_stack([cx + fx * joints[:, 0] / joints[:, 2],
                            cy - fy * joints[:, 1] / joints[:, 2]])


def draw_geometry(ax, frames: PairedFrames, index: int) -> None:
    """The person mask's outline and the known joints on a depth panel, where present."""
    if frames.masks is not None:
        ax.contour(np.asarray(frames.masks[index]) > 0, levels=[0.5], colors="white",
                   linewidths=0.5)
    if frames.skeletons is not None and frames.intrinsics is not None:
        joints = np.asarray(frames.skeletons[index])
        known = ~np.isnan(joints).any(axis=1)
        if known.any():
            u, v = joint_pixels(joints[known], np.asarray(frames.intrinsics[index])).T
            ax.plot(u, v, "o", color="white", markersize=1.5, markeredgewidth=0)


def save_preview(frames: PairedFrames, path: str | Path, identities: int = 6,
                 per_identity: int = 2) -> Path:
    """Write a PNG grid: one row per identity, ``per_identity`` RGB/depth pairs each.

    Identities are the first ``identities`` pids; their frames are spread evenly over
    each pid's rows (so different sequences show when there are several).
    """
    pids = np.unique(np.asarray(frames.pids))[:identities]
    h, w = frames.image_size
    cols = 2 * per_identity
    scale = 1.6 / h
    figure = Figure(figsize=(cols * w * scale + 0.6, len(pids) * h * scale + 0.3), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(pids), cols, squeeze=False)
    for row, pid in enumerate(pids):
        rows = np.flatnonzero(np.asarray(frames.pids) == pid)
        chosen = rows[np.linspace(0, len(rows) - 1, per_identity).round().astype(int)]
        for k, index in enumerate(chosen):
            rgb_ax, depth_ax = axes[row, 2 * k], axes[row, 2 * k + 1]
            rgb_ax.imshow(np.asarray(frames.rgb[index]), interpolation="nearest")
            depth_ax.imshow(depth_colours(np.asarray(frames.depth[index])),
                            interpolation="nearest")
            draw_geometry(depth_ax, frames, index)
            if row == 0:
                rgb_ax.set_title("RGB", fontsize=7)
                depth_ax.set_title("depth", fontsize=7)
        axes[row, 0].set_ylabel(f"pid {int(pid)}", fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    figure.subplots_adjust(left=0.06, right=0.99, top=0.95, bottom=0.01, wspace=0.05,
                           hspace=0.05)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        figure.savefig(temporary)
    return path

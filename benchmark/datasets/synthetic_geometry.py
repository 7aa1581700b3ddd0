"""What the synthetic renderer knows about each depth crop: intrinsics and skeleton.

The renderer draws with weak perspective: crop pixel (u, v) of a frame at depth time lies
at x = x0 + (u + 1/2) s, y = y0 - (v + 1/2) s (metres, y up) in the person's frame, for
the whole body at the person's distance d. The pinhole intrinsics that give the same
point at depth d are fx = fy = d / s, cx = -x0 / s - 1/2, cy = y0 / s - 1/2 (image y
pointing down, as BIWI's). The joints are given in the same frame: X, Y the body-frame
joint position, Z = d + its depth offset, as BIWI's ``*_skel.txt`` (metres, Y up).
"""

from __future__ import annotations

import numpy as np

from benchmark.datasets import synthetic_body as sb
from benchmark.datasets import synthetic_scene as sc


def depth_geometry(body: sb.Body, room: sc.Room, views: sc.Views, size: tuple[int, int]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(F, 4) intrinsics (fx, fy, cx, cy) and (F, 20, 3) joints of a batch's depth crops."""
    grid = sc.crop_grid(body, views, size)
    same_time = np.array_equal(views.phase_d, views.phase) and np.array_equal(
        views.distance_d, views.distance)
    if not same_time:
        grid = sc.depth_time_grid(grid, views, room.camera_height)
    step = np.asarray(grid.step, dtype=np.float64)
    focal = views.distance_d / step
    intrinsics = np.stack([focal, focal, -grid.x0 / step - 0.5, grid.y0 / step - 0.5], 1)
    joints = sb.torso_joints(body, views.phase_d, views.yaw)
    joints[:, :, 2] += views.distance_d[:, None]
    return intrinsics.astype(np.float64), joints

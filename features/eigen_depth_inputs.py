"""Eigen-depth of person crops, and what stands in where a data set lacks an input.

The original takes the Kinect's user map (person mask), its tracked skeleton and the
depth camera's intrinsics. Where a frame lacks one:

* mask: the crop's pixels within ``DEPTH_BAND_MM`` of the median depth of its central
  third (the detector centred the person there), as BIWI's reader does around a skeleton;
* skeleton: joints placed by adult body proportions (Winter, *Biomechanics and Motor
  Control of Human Movement*: shoulder width 0.259 H, hip joint at 0.530 H above the
  floor) on the point cloud, H its height, centred on its median x; so the torso is
  the cloud's top 47 % between the shoulders;
* intrinsics: never guessed (the point cloud's shape depends on them); a crop without
  them raises an error naming what is missing.
"""

from __future__ import annotations

import numpy as np

from features.eigen_depth_descriptor import (
    JOINTS,
    LEFT_HIP,
    LEFT_SHOULDER,
    RIGHT_HIP,
    RIGHT_SHOULDER,
    eigen_depth,
    estimate_normals,
    person_point_cloud,
    segment_torso,
)

DEPTH_BAND_MM = 600
SHOULDER_WIDTH = 0.259  # of the height
HIP_HEIGHT = 0.530  # of the height, above the floor


def mask_from_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) bool: readings within 600 mm of the median depth of the central third."""
    h, w = depth.shape
    centre = depth[h // 3: h - h // 3, w // 3: w - w // 3]
    readings = centre[centre > 0]
    if len(readings) == 0:
        return np.zeros(depth.shape, dtype=bool)
    z = depth.astype(np.int64)
    return (z > 0) & (np.abs(z - np.median(readings)) < DEPTH_BAND_MM)


def proportional_skeleton(points: np.ndarray) -> np.ndarray:
    """(20, 4) rows (id, X, Y, Z in metres, Y up) with shoulders and hips placed by body
    proportions on a person's point cloud (mm, y down); the other joints are NaN."""
    rows = np.full((JOINTS, 4), np.nan)
    rows[:, 0] = 1
    if len(points) == 0:
        return rows
    top, bottom = points[:, 1].min(), points[:, 1].max()
    height = bottom - top
    centre = np.median(points[:, 0])
    half = SHOULDER_WIDTH * height / 2
    hip_y = bottom - HIP_HEIGHT * height
    z = np.median(points[:, 2])
    for joint, x, y in ((RIGHT_SHOULDER, centre - half, top), (LEFT_SHOULDER, centre + half, top),
                        (RIGHT_HIP, centre, hip_y), (LEFT_HIP, centre, hip_y)):
        rows[joint, 1:] = x / 1000, -y / 1000, z / 1000
    return rows


def eigen_depth_of_crop(depth: np.ndarray, intrinsics: np.ndarray, mask: np.ndarray | None,
                        joints: np.ndarray | None, n_col: int = 2, n_row: int = 6
                        ) -> np.ndarray:
    """[within, between] Eigen-depth of one depth crop (mm), 510 values for 2 x 6.

    ``joints`` is (20, 3) X, Y, Z in metres (Y up), NaN where unknown; shoulders or hips
    unknown (or no ``joints``) use :func:`proportional_skeleton`; no ``mask`` uses
    :func:`mask_from_depth`. A crop without person points gives zeros (the original's
    value for empty patches).
    """
    if mask is None:
        mask = mask_from_depth(depth)
    points = person_point_cloud(depth, mask, tuple(float(v) for v in intrinsics))
    needed = [RIGHT_SHOULDER, LEFT_SHOULDER, RIGHT_HIP, LEFT_HIP]
    if joints is None or np.isnan(np.asarray(joints)[needed]).any():
        skeleton = proportional_skeleton(points)
    else:
        skeleton = np.column_stack([np.ones(len(joints)), joints])
    torso = segment_torso(points, skeleton)
    within, between = eigen_depth(torso, estimate_normals(torso), n_col, n_row)
    return np.concatenate([within, between])

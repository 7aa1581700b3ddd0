"""Eigen-depth: a depth descriptor of the torso's point cloud (Wu, Zheng, Lai, TIP 2017).

Equal to the authors' MATLAB code (public repository ``wuancong/depth_reid``, ``utils/``),
step by step and in its arithmetic where that decides a result:

1. :func:`person_point_cloud` (``compute_person_pointcloud.m``, ``pointcloudFromDepthImage.m``):
   depth times the binary person mask, a 5x5 median filter, back-projection of the
   non-zero pixels in row-major order, then each z replaced by the mean z of its 10
   nearest neighbours in (x, y).
2. :func:`segment_torso` (``segment_torso.m``): the points between the shoulders' x and
   between the top of the cloud and the hips' mean y.
3. :func:`estimate_normals` (``estimateNormals.m``): the third principal axis of each
   point's 10 nearest neighbours (themselves included), turned towards z >= 0.
4. :func:`eigen_depth` (``segment_patch.m``, ``within_patch_covariance.m``,
   ``between_patch_covariance.m``, ``eigen_depth.m``): the torso cut into
   (2 n_row - 1) x (2 n_col - 1) half-overlapping patches; the 6x6 covariance of
   (point, normal) within every patch and between every pair of neighbouring
   non-overlapping patches; each described by log(1 + its sorted eigenvalues).

Nearest neighbours are found with a k-d tree and then ordered by the exact squared
distance (summed over the coordinates left to right), ties by the lower point index;
which points are neighbours where distances tie decides the smoothed depth of points on
the pixel grid, and the sum's order decides its last bit.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

BIWI_INTRINSICS = (575.8, 575.8, 319.5, 239.5)
"""(fx, fy, cx, cy) of BIWI RGBD-ID's depth camera, the original's default."""

NEIGHBOURS = 10
MEDIAN_SIZE = 5
JOINTS = 20
RIGHT_SHOULDER, LEFT_SHOULDER, RIGHT_HIP, LEFT_HIP = 4, 8, 12, 16  # Kinect v1 joint rows


def person_point_cloud(depth: np.ndarray, mask: np.ndarray,
                       intrinsics: tuple[float, float, float, float] | None = None
                       ) -> np.ndarray:
    """(n, 3) float64 points (x, y, z in mm) of the person in a depth map.

    Args:
        depth: (H, W) depth in millimetres, 0 = no reading.
        mask: (H, W); any non-zero value is the person.
        intrinsics: (fx, fy, cx, cy) in pixels; BIWI's by default.
    """
    fx, fy, cx, cy = BIWI_INTRINSICS if intrinsics is None else intrinsics
    masked = np.asarray(depth, dtype=np.float64) * (np.asarray(mask) != 0)
    # medfilt2 pads with zeros.
    filtered = ndimage.median_filter(masked, size=MEDIAN_SIZE, mode="constant", cval=0.0)
    v, u = np.nonzero(filtered > 0)
    z = filtered[v, u]
    # Multiplied by the inverted focal length, as the original does.
    x = (u - cx) * z * (1.0 / fx)
    y = (v - cy) * z * (1.0 / fy)
    # The original's 400 mm depth-range filter (z < mean - 400 AND z > mean + 400)
    # can never hold, so it removes nothing and is left out.
    if len(z) == 0:
        return np.zeros((0, 3))
    neighbours = nearest_neighbours(np.column_stack([x, y]), NEIGHBOURS)
    # mean(z(ind), 2): a left-to-right sum over the neighbours divided by their count.
    smoothed = reduce(np.add, (z[neighbours[:, i]] for i in range(neighbours.shape[1])))
    return np.column_stack([x, y, smoothed / neighbours.shape[1]])


def nearest_neighbours(points: np.ndarray, k: int) -> np.ndarray:
    """(n, min(k, n)) indices of each point's k nearest points (itself included).

    Ordered by the squared Euclidean distance summed over the columns left to right,
    ties by the lower index (a stable brute-force sort gives the same). A k-d tree finds
    candidates; rows whose farthest candidate ties with the k-th are asked again with
    more candidates, so a tie at the k-th place is never decided by the tree.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    k = min(k, n)
    tree = cKDTree(points)
    result = np.empty((n, k), dtype=np.int64)
    rows = np.arange(n)
    wanted = min(n, k + 4)
    while len(rows):
        _, candidates = tree.query(points[rows], k=wanted)
        candidates = np.sort(candidates.reshape(len(rows), wanted), axis=1)
        diff = points[candidates] - points[rows, None, :]
        squared = reduce(np.add, (diff[..., c] ** 2 for c in range(points.shape[1])))
        order = np.argsort(squared, axis=1, kind="stable")  # ties keep the index order
        sorted_squared = np.take_along_axis(squared, order, axis=-1)
        result[rows] = np.take_along_axis(candidates, order[:, :k], axis=-1)
        # Complete when every point was a candidate or the farthest candidate lies
        # clearly beyond the k-th (the tree's own rounding differs from ours).
        done = (wanted == n) | (sorted_squared[:, k - 1] < sorted_squared[:, -1] * (1 - 1e-9))
        rows = rows[~done]
        wanted = min(n, 2 * wanted)
    return result


def segment_torso(points: np.ndarray, skeleton: np.ndarray) -> np.ndarray:
    """(m, 3) points of the torso: between the shoulders' x, above the hips' mean y.

    Args:
        points: (n, 3) from :func:`person_point_cloud` (mm, y pointing down).
        skeleton: BIWI ``*_skel.txt`` as numbers (one row per joint, columns id, X, Y, Z
            in metres, ...); the first 20 rows are the joints used.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros((0, 3))
    joints = np.array(np.asarray(skeleton, dtype=np.float64)[:JOINTS, 1:4])
    joints[:, 1] = -joints[:, 1]  # Kinect's Y points up, the image's y down
    joints = joints * 1000
    x_low, x_high = joints[RIGHT_SHOULDER, 0], joints[LEFT_SHOULDER, 0]
    y_low = points[:, 1].min()
    y_high = (joints[LEFT_HIP, 1] + joints[RIGHT_HIP, 1]) / 2
    inside = ((points[:, 0] >= x_low) & (points[:, 0] <= x_high)
              & (points[:, 1] >= y_low) & (points[:, 1] <= y_high))
    return points[inside]


def estimate_normals(points: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """(m, 3) unit normals: the least principal axis of each point's k nearest neighbours.

    The sign is chosen so that z >= 0 (the original's rule). A neighbourhood of fewer
    than 4 points has fewer than 3 principal axes, where the original's ``princomp``
    fails and it falls back to (0, 0, 1); so does this.
    """
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return np.zeros((0, 3))
    neighbourhoods = points[nearest_neighbours(points, k)]
    if neighbourhoods.shape[1] < 4:
        return np.tile([0.0, 0.0, 1.0], (len(points), 1))
    centred = neighbourhoods - neighbourhoods.mean(axis=1, keepdims=True)
    normals = np.linalg.svd(centred, full_matrices=False)[2][:, 2, :]
    return np.where(normals[:, 2:3] < 0, -normals, normals)


def eigen_depth(points: np.ndarray, normals: np.ndarray, n_col: int = 2, n_row: int = 6
                ) -> tuple[np.ndarray, np.ndarray]:
    """(within, between) Eigen-depth vectors of a torso, in the original's order.

    ``within`` holds 6 values for each of the (2 n_row - 1)(2 n_col - 1) half-overlapping
    patches (columns outer, rows inner); ``between`` 6 for each ordered pair of
    neighbouring (8-connected) non-overlapping patches (198 and 312 values for 2 x 6).
    Each 6 are log(1 + the covariance's eigenvalues), ascending; an empty patch gives 0.
    """
    points = np.asarray(points, dtype=np.float64)
    values = np.column_stack([points, np.asarray(normals, dtype=np.float64)])
    inside = patch_membership(points, n_col, n_row)  # (n, cols, rows)
    n_cols, n_rows = inside.shape[1:]
    flat = inside.reshape(len(points), n_cols * n_rows)  # column-major: (i, j) -> i * rows + j
    within = _log_eigenvalues(_within_covariance(values, flat))
    first, second = neighbour_pairs(n_cols, n_rows)
    between = _log_eigenvalues(_between_covariance(values, flat[:, first], flat[:, second]))
    return within.ravel(), between.ravel()


def eigen_depth_dimension(n_col: int = 2, n_row: int = 6) -> int:
    """Length of [within, between] for an ``n_col`` x ``n_row`` grid (510 for 2 x 6)."""
    n_cols, n_rows = 2 * n_col - 1, 2 * n_row - 1
    return 6 * (n_cols * n_rows + len(neighbour_pairs(n_cols, n_rows)[0]))


def patch_membership(points: np.ndarray, n_col: int, n_row: int) -> np.ndarray:
    """(n, 2 n_col - 1, 2 n_row - 1) booleans: point in patch (column, row).

    Bounds as the original computes them: low = min + (i * size) / 2, high = low + size,
    both inclusive, size = range / count. The last high bound can round below the
    maximum, leaving the outermost points out of every patch, as in the original.
    """
    def axis(coordinate: np.ndarray, count: int) -> np.ndarray:
        if len(coordinate) == 0:
            return np.zeros((0, 2 * count - 1), dtype=bool)
        low_end = coordinate.min()
        size = (coordinate.max() - low_end) / count
        low = low_end + np.arange(2 * count - 1) * size / 2
        high = low + size
        return (coordinate[:, None] >= low) & (coordinate[:, None] <= high)

    columns = axis(points[:, 0], n_col)
    rows = axis(points[:, 1], n_row)
    return columns[:, :, None] & rows[:, None, :]


def neighbour_pairs(n_cols: int, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (column-major) of the ordered pairs of neighbouring even patches.

    Even (0-based) columns and rows are the non-overlapping patches; a pair is two
    different ones at most 2 apart in both directions, in the original's loop order.
    """
    cols, rows = np.arange(0, n_cols, 2), np.arange(0, n_rows, 2)
    i, j, ii, jj = (a.ravel() for a in np.meshgrid(cols, rows, cols, rows, indexing="ij"))
    keep = ~((i == ii) & (j == jj)) & (np.abs(i - ii) <= 2) & (np.abs(j - jj) <= 2)
    return (i * n_rows + j)[keep], (ii * n_rows + jj)[keep]


def _within_covariance(values: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """(P, 6, 6) covariances (n - 1 normalised) of the values in each patch."""
    weights = inside.astype(np.float64)
    counts = weights.sum(axis=0)
    means = (weights.T @ values) / np.maximum(counts, 1)[:, None]
    centred = ((values[:, None, :] - means[None]) * weights[..., None]).transpose(1, 0, 2)
    cov = centred.transpose(0, 2, 1) @ centred / np.maximum(counts - 1, 1)[:, None, None]
    # MATLAB's cov of a single row is the variance of its 6 values, a scalar that fills
    # the whole 6x6 slice.
    single = counts == 1
    if single.any():
        rows = values[inside[:, single].argmax(axis=0)]
        cov[single] = rows.var(axis=1, ddof=1)[:, None, None]
    cov[counts == 0] = 0.0
    return cov


def _between_covariance(values: np.ndarray, in_a: np.ndarray, in_b: np.ndarray
                        ) -> np.ndarray:
    """(Q, 6, 6) between-patch covariances, computed as the original does:
    (n A A' + m B B' - sum(A) sum(B)' - sum(B) sum(A)') / (m n), m = |A|, n = |B|."""
    wa, wb = in_a.astype(np.float64), in_b.astype(np.float64)
    m, n = wa.sum(axis=0), wb.sum(axis=0)
    outer = (values[:, :, None] * values[:, None, :]).reshape(len(values), 36)
    second_a = (wa.T @ outer).reshape(-1, 6, 6)
    second_b = (wb.T @ outer).reshape(-1, 6, 6)
    sum_a, sum_b = wa.T @ values, wb.T @ values
    cross = sum_a[:, :, None] * sum_b[:, None, :]
    numerator = (n[:, None, None] * second_a + m[:, None, None] * second_b
                 - cross - cross.transpose(0, 2, 1))
    empty = (m == 0) | (n == 0)
    cov = numerator / np.where(empty, 1.0, m * n)[:, None, None]
    cov[empty] = 0.0
    return cov


def _log_eigenvalues(covariances: np.ndarray) -> np.ndarray:
    """(N, 6) log(1 + ascending eigenvalues) of symmetric 6x6 matrices."""
    if len(covariances) == 0:
        return np.zeros((0, 6))
    return np.log(1 + np.linalg.eigvalsh(covariances))

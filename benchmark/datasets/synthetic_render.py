"""An analytic z-buffer of capsules and ellipsoids, and the clothing drawn on it.

Every crop pixel casts a ray parallel to the camera axis through the person's plane
(weak perspective: a person 0.5 m deep at 2 m or more is drawn with one scale). Each
primitive is intersected in closed form over its bounding box for a whole batch of
frames at once; the nearest hit keeps its depth, surface normal, part label and
part-local coordinates, from which :func:`albedo` paints the clothes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.datasets import synthetic_body as sb


@dataclass(frozen=True)
class Grid:
    """Crop pixel centres in person coordinates (metres) for F frames.

    Pixel (i, j) of frame f lies at x = x0[f] + (j + 0.5) * step[f] and
    y = y0[f] - (i + 0.5) * step[f]; y0 is the top edge of the crop.
    """

    x0: np.ndarray
    y0: np.ndarray
    step: np.ndarray
    height: int
    width: int

    def xs(self) -> np.ndarray:
        """(F, 1, w) x of every column."""
        j = np.arange(self.width, dtype=np.float32) + 0.5
        return (self.x0[:, None] + j[None] * self.step[:, None])[:, None, :].astype(np.float32)

    def ys(self) -> np.ndarray:
        """(F, h, 1) y of every row."""
        i = np.arange(self.height, dtype=np.float32) + 0.5
        return (self.y0[:, None] - i[None] * self.step[:, None])[:, :, None].astype(np.float32)


@dataclass
class Surface:
    """The visible person surface: depth offset z (inf = no person), normal, label, local."""

    z: np.ndarray
    normal: np.ndarray
    label: np.ndarray
    local: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return np.isfinite(self.z)


def render_parts(parts: list[sb.Part], grid: Grid) -> Surface:
    """Z-buffer the primitives over the crop grid of every frame.

    A depth pass keeps the nearest part of every pixel; an attribute pass then computes
    normals and part coordinates once per visible pixel from the surface point.
    """
    n, h, w = len(grid.x0), grid.height, grid.width
    surface = Surface(z=np.full((n, h, w), np.inf, np.float32),
                      normal=np.zeros((n, h, w, 3), np.float32),
                      label=np.full((n, h, w), -1, np.int8),
                      local=np.zeros((n, h, w, 3), np.float32))
    owner = np.full((n, h, w), -1, np.int16)
    xs, ys = grid.xs(), grid.ys()
    windows = []
    for index, part in enumerate(parts):
        box = _pixel_box(part, grid)
        windows.append(box)
        if box is None:
            continue
        r0, r1, c0, c1 = box
        x, y = xs[:, :, c0:c1], ys[:, r0:r1, :]
        z = _capsule_depth(part, x, y) if part.kind == "capsule" else _ellipsoid_depth(part, x, y)
        window = (slice(None), slice(r0, r1), slice(c0, c1))
        nearer = z < surface.z[window]
        np.copyto(surface.z[window], z, where=nearer)
        np.copyto(owner[window], np.int16(index), where=nearer)
    for index, (part, box) in enumerate(zip(parts, windows, strict=True)):
        if box is None:
            continue
        r0, r1, c0, c1 = box
        f, i, j = np.nonzero(owner[:, r0:r1, c0:c1] == index)
        i, j = i + r0, j + c0
        point = np.stack([xs[f, 0, j], ys[f, i, 0], surface.z[f, i, j]], -1)
        normal, local = (_capsule_frame if part.kind == "capsule" else _ellipsoid_frame)(
            part, f, point)
        surface.normal[f, i, j] = normal
        surface.local[f, i, j] = local
        surface.label[f, i, j] = part.label
    return surface


def _pixel_box(part: sb.Part, grid: Grid) -> tuple[int, int, int, int] | None:
    """Rows and columns covering the part in any frame of the batch."""
    if part.kind == "capsule":
        lo = np.minimum(part.a, part.b) - part.radius
        hi = np.maximum(part.a, part.b) + part.radius
    else:
        spread = np.einsum("nij,j,nij->ni", part.rotation, part.axes ** 2, part.rotation)
        extent = np.sqrt(spread)
        lo, hi = part.a - extent, part.a + extent
    c0 = int(np.floor(np.min((lo[:, 0] - grid.x0) / grid.step)))
    c1 = int(np.ceil(np.max((hi[:, 0] - grid.x0) / grid.step))) + 1
    r0 = int(np.floor(np.min((grid.y0 - hi[:, 1]) / grid.step)))
    r1 = int(np.ceil(np.max((grid.y0 - lo[:, 1]) / grid.step))) + 1
    c0, c1 = max(c0, 0), min(c1, grid.width)
    r0, r1 = max(r0, 0), min(r1, grid.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return r0, r1, c0, c1


def _capsule_depth(part: sb.Part, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Depth of the front hit of rays along +z with a capsule (inf = miss).

    The hit is the nearest of the cylinder (where its axis parameter lies on the
    segment) and the two end spheres.
    """
    a = part.a.astype(np.float32)[:, None, None, :]
    d = (part.b - part.a).astype(np.float32)
    length = np.maximum(np.linalg.norm(d, axis=1), np.float32(1e-6))
    u = (d / length[:, None])[:, None, None, :]
    length = length[:, None, None]
    r2 = np.float32(part.radius ** 2)
    big = np.float32(np.inf)
    qx, qy = x - a[..., 0], y - a[..., 1]
    rho2 = qx * qx + qy * qy
    along = qx * u[..., 0] + qy * u[..., 1]
    uz = u[..., 2]
    quad_a = np.maximum(1.0 - uz * uz, np.float32(1e-6))
    quad_b = along * uz
    disc = quad_b * quad_b - quad_a * (rho2 - along * along - r2)
    s_cyl = (quad_b - np.sqrt(np.maximum(disc, 0.0))) / quad_a
    t_cyl = along + s_cyl * uz
    s = np.where((disc >= 0) & (t_cyl >= 0) & (t_cyl <= length), s_cyl, big)
    s = np.minimum(s, np.where(rho2 < r2, -np.sqrt(np.maximum(r2 - rho2, 0.0)), big))
    bx = x - (a[..., 0] + d[:, None, None, 0])
    by = y - (a[..., 1] + d[:, None, None, 1])
    rho2_b = bx * bx + by * by
    s = np.minimum(s, np.where(rho2_b < r2, d[:, None, None, 2]
                               - np.sqrt(np.maximum(r2 - rho2_b, 0.0)), big))
    return a[..., 2] + s


def _capsule_frame(part: sb.Part, f: np.ndarray, point: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Unit normal and (t, 0, 0), t in [0, 1] along the axis, at surface points (k, 3)."""
    a = part.a.astype(np.float32)[f]
    d = (part.b - part.a).astype(np.float32)[f]
    length2 = np.maximum((d * d).sum(-1), np.float32(1e-12))
    t = np.clip(((point - a) * d).sum(-1) / length2, 0.0, 1.0)
    normal = (point - a - t[:, None] * d) / np.float32(part.radius)
    local = np.zeros_like(point)
    local[:, 0] = t
    return normal, local


def _ellipsoid_depth(part: sb.Part, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Depth of the front hit of rays along +z with an ellipsoid (inf = miss)."""
    m = _quadric(part)[:, None, None]
    c = part.a.astype(np.float32)[:, None, None, :]
    qx, qy = x - c[..., 0], y - c[..., 1]
    quad_a = m[..., 2, 2]
    quad_b = m[..., 0, 2] * qx + m[..., 1, 2] * qy
    quad_c = m[..., 0, 0] * qx * qx + 2 * m[..., 0, 1] * qx * qy + m[..., 1, 1] * qy * qy - 1
    disc = quad_b * quad_b - quad_a * quad_c
    s = (-quad_b - np.sqrt(np.maximum(disc, 0.0))) / quad_a
    return np.where(disc >= 0, c[..., 2] + s, np.float32(np.inf))


def _ellipsoid_frame(part: sb.Part, f: np.ndarray, point: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Unit normal and unit-sphere coordinates in the ellipsoid's own frame at (k, 3)."""
    q = point - part.a.astype(np.float32)[f]
    normal = np.einsum("kij,kj->ki", _quadric(part)[f], q)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + np.float32(1e-12)
    local = np.einsum("kji,kj->ki", part.rotation.astype(np.float32)[f], q) \
        / part.axes.astype(np.float32)
    return normal, local


def _quadric(part: sb.Part) -> np.ndarray:
    """(F, 3, 3) matrix M with (p - c)^T M (p - c) = 1 on the ellipsoid."""
    rot = part.rotation.astype(np.float32)
    inv2 = (1.0 / part.axes ** 2).astype(np.float32)
    return np.einsum("nij,j,nkj->nik", rot, inv2, rot)


def albedo(label: np.ndarray, local: np.ndarray, height: np.ndarray, body: sb.Body,
           outfit: sb.Outfit) -> np.ndarray:
    """Linear RGB reflectance (..., 3) of person pixels from their part ``label`` (...),
    part coordinates ``local`` (..., 3) and height above the floor ``height`` (...)."""
    table = np.zeros((sb.N_PARTS + 1, 3), np.float32)
    top_parts = (sb.CHEST, sb.SHOULDERS, sb.UPPER_ARM)
    for part in top_parts:
        table[part] = outfit.top
    table[sb.FOREARM] = outfit.top if outfit.long_sleeves else body.skin
    for part in (sb.ABDOMEN, sb.PELVIS, sb.THIGH):
        table[part] = outfit.bottom
    table[sb.SHIN] = body.skin if outfit.shorts else outfit.bottom
    for part in (sb.HEAD, sb.NECK, sb.HAND):
        table[part] = body.skin
    table[sb.FOOT] = outfit.shoes
    table[sb.BAG] = outfit.bag_colour
    table[sb.HAT] = outfit.accent
    colour = table[label]  # label -1 picks the last, all-zero row

    torso = np.isin(label, (sb.CHEST, sb.ABDOMEN, sb.PELVIS))
    shirt = torso & (height > outfit.hem * body.height)
    colour[shirt] = outfit.top
    sleeve = label == sb.UPPER_ARM
    if not outfit.long_sleeves:
        short = sleeve & (local[..., 0] > 0.5)
        colour[short] = body.skin
        sleeve &= ~short
    if outfit.shorts:
        colour[(label == sb.THIGH) & (local[..., 0] > 0.6)] = body.skin

    if outfit.pattern == "stripes":
        band = np.floor(height / outfit.stripe_period).astype(np.int64) % 2 == 1
        colour[(shirt | (label == sb.SHOULDERS) | sleeve) & band] = outfit.accent
    elif outfit.pattern == "logo":
        ex, ey, ez = local[..., 0], local[..., 1] - 0.15, local[..., 2]
        logo = (label == sb.CHEST) & (ez < -0.5) & (ex * ex + ey * ey < 0.13)
        colour[logo] = outfit.accent
    elif outfit.pattern == "sleeves":
        arm = sleeve | ((label == sb.FOREARM) & outfit.long_sleeves)
        colour[arm] = outfit.accent
    elif outfit.pattern == "two-tone":
        lower = shirt & (height < (outfit.hem + 0.1) * body.height)
        colour[lower | ((label == sb.CHEST) & (local[..., 1] < -0.35))] = outfit.accent

    head = label == sb.HEAD
    hx, hy, hz = local[..., 0], local[..., 1], local[..., 2]
    hair = head & ((hy > 0.35 + 0.1 * hx * hx) | ((hz > -0.15) & (hy > -0.25 - 0.7
                                                                      * body.hair_length)))
    colour[hair] = body.hair
    return colour

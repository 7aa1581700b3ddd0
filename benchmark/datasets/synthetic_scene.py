"""Rooms behind the people, and the per-frame walking views of a recording.

A room belongs to a sequence (one camera set-up shared by every person, as in BIWI and
RobotPKU, so the background carries no identity): a horizontal camera at a fixed
height, a floor of tiles, a wall, and furniture, posters and windows in front of it.
A view is one time step of a walk: where the person stands, where they face, the gait
phase, the detector's crop box and the light.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from benchmark.datasets import synthetic_body as sb
from benchmark.datasets.synthetic_render import Grid


@dataclass(frozen=True)
class Room:
    """A static scene: distances in metres, colours linear RGB."""

    camera_height: float
    wall_distance: float
    wall: np.ndarray          # (3,)
    floor: np.ndarray         # (2, 3) tile colours
    tile: float
    boxes: np.ndarray         # (k, 5): x left, x right, y bottom, y top, distance
    box_colours: np.ndarray   # (k, 3)
    windows: np.ndarray       # (k,) bool: glass, no depth reading
    light: np.ndarray         # (3,) direction towards the main light
    cast: np.ndarray          # (3,) white balance of the camera


def sample_room(rng: np.random.Generator) -> Room:
    """A random room with furniture on the floor and posters/windows on the wall."""
    wall_distance = float(rng.uniform(6.8, 7.8))
    k = int(rng.integers(10, 17))
    boxes, colours, windows = [], [], []
    for _ in range(k):
        left = rng.uniform(-6.0, 5.5)
        kind = rng.random()
        if kind < 0.55:  # furniture standing on the floor
            width, bottom, top = rng.uniform(0.4, 1.6), 0.0, rng.uniform(0.5, 2.2)
            distance = wall_distance - rng.uniform(0.2, 0.8)
        else:  # poster or window on the wall
            width, bottom = rng.uniform(0.3, 1.4), rng.uniform(0.7, 1.5)
            top, distance = bottom + rng.uniform(0.3, 1.0), wall_distance - 0.02
        window = kind > 0.9
        boxes.append((left, left + width, bottom, top, distance))
        colours.append((0.9, 0.93, 1.0) if window else sb.clothing_colour(rng))
        windows.append(window)
    light = np.array([rng.normal(0.0, 0.5), rng.uniform(0.3, 1.0), -1.0])
    return Room(
        camera_height=float(rng.uniform(0.9, 1.6)), wall_distance=wall_distance,
        wall=np.full(3, rng.uniform(0.25, 0.75)) * rng.uniform(0.9, 1.1, 3),
        floor=np.array([np.full(3, v) for v in rng.uniform(0.05, 0.45, 2)]),
        tile=float(rng.uniform(0.3, 0.8)),
        boxes=np.array(boxes), box_colours=np.array(colours), windows=np.array(windows),
        light=light / np.linalg.norm(light), cast=np.exp(rng.normal(0.0, 0.05, 3)),
    )


@dataclass(frozen=True)
class Background:
    """The room seen through the crop pixels: depth in metres (0 = glass), colour,
    cosine between viewing ray and surface normal, and floor mask."""

    depth: np.ndarray
    colour: np.ndarray
    incidence: np.ndarray
    floor: np.ndarray


def render_room(room: Room, grid: Grid, lateral: np.ndarray, distance: np.ndarray
                ) -> Background:
    """The room behind a person standing at (``lateral``, ``distance``) for each frame.

    The ray of a crop pixel passes through the person's plane at (lateral + x, y,
    distance); at depth Z it is at x' = (lateral + x) Z / distance and
    y' = hc + (y - hc) Z / distance. Boxes are painted far to near over the wall and
    the floor (a box standing on the floor hides the floor behind it, never in front).
    """
    hc = np.float32(room.camera_height)
    wx = grid.xs() + lateral.astype(np.float32)[:, None, None]
    wy = grid.ys()
    z0 = distance.astype(np.float32)[:, None, None]
    wall_z = np.float32(room.wall_distance)
    below = np.maximum(hc - wy, np.float32(1e-6))
    floor_z = np.where(wy < hc, z0 * hc / below, np.float32(np.inf))  # (F, h, 1)
    floor_at = np.where(floor_z < wall_z, floor_z, np.float32(0))
    across = np.floor(wx * (floor_at / (z0 * np.float32(room.tile))))
    tiles = (across + np.floor(floor_at / np.float32(room.tile))).astype(np.int32) & 1
    n_boxes = len(room.boxes)
    label = np.where(floor_z < wall_z, (1 + (n_boxes + 1) * tiles).astype(np.int8), np.int8(0))
    order = np.argsort(-room.boxes[:, 4], kind="stable")
    for k in order:
        left, right, bottom, top, z = (np.float32(v) for v in room.boxes[k])
        x, y = wx * (z / z0), hc + (wy - hc) * (z / z0)
        across, up = (x >= left) & (x <= right), (y >= bottom) & (y <= top)
        cols, rows = np.flatnonzero(across.any((0, 1))), np.flatnonzero(up.any((0, 2)))
        if len(cols) == 0 or len(rows) == 0:
            continue
        window = (slice(None), slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        inside = across[window[0], :, window[2]] & up[window[0], window[1], :]
        np.copyto(label[window], np.int8(k + 2), where=inside)
    floor = (label == 1) | (label == n_boxes + 2)

    depths = np.concatenate([[room.wall_distance, 0.0], room.boxes[:, 4], [0.0]])
    depths[2:-1][room.windows] = 0.0
    depth = np.where(floor, floor_z, np.take(depths.astype(np.float32), label))
    table = np.concatenate([room.wall[None], room.floor[:1], room.box_colours, room.floor[1:]]
                           ).astype(np.float32)
    wall_y = hc + (wy - hc) * (wall_z / z0)
    shade = np.where(label == 0, 0.85 + 0.06 * np.clip(wall_y, 0, 3), np.float32(1.0))
    colour = np.take(table, label, axis=0) * shade[..., None]

    ray = np.sqrt(wx * wx + (wy - hc) ** 2 + z0 * z0)
    incidence = np.where(floor, (hc - wy) / ray, z0 / ray)
    return Background(depth=depth.astype(np.float32), colour=colour,
                      incidence=incidence.astype(np.float32), floor=floor)


@dataclass(frozen=True)
class Views:
    """Per-frame parameters of F frames of one person (RGB time; ``*_d`` depth time)."""

    distance: np.ndarray
    lateral: np.ndarray
    yaw: np.ndarray
    phase: np.ndarray
    distance_d: np.ndarray
    lateral_d: np.ndarray
    phase_d: np.ndarray
    margin: np.ndarray
    shift: np.ndarray         # (F, 2) crop centre offset (x, y) in metres
    light: np.ndarray         # (F, 3)
    ambient: np.ndarray
    gain: np.ndarray
    cast: np.ndarray          # (F, 3)

    def select(self, index: slice | np.ndarray) -> Views:
        """The views of some frames."""
        return Views(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def sample_walk(body: sb.Body, room: Room, n: int, rng: np.random.Generator,
                time_offset: float = 0.0) -> Views:
    """``n`` time steps of one walk through ``room``, sorted in time.

    The walk goes towards the camera, away from it or across the room; depth is taken
    ``time_offset`` seconds after RGB (later gait phase, moved position).
    """
    kind = rng.choice(3, p=[0.45, 0.3, 0.25])
    if kind == 2:
        near = rng.uniform(2.6, 4.6)
        side = rng.choice([-1.0, 1.0])
        start = np.array([-1.5 * side, near])
        end = np.array([1.5 * side, near + rng.normal(0, 0.3)])
    else:
        far = np.array([rng.uniform(-0.8, 0.8), rng.uniform(4.6, 5.6)])
        close = np.array([rng.uniform(-0.5, 0.5), rng.uniform(1.9, 2.6)])
        start, end = (far, close) if kind == 0 else (close, far)
    direction = (end - start) / np.linalg.norm(end - start)
    duration = np.linalg.norm(end - start) / body.speed
    times = np.sort(rng.uniform(0.0, duration, n))
    heading = np.arctan2(-direction[0], -direction[1])
    phase0 = rng.uniform(0, 2 * np.pi)

    def at(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        position = start[None] + body.speed * t[:, None] * direction[None]
        return position[:, 1], position[:, 0], phase0 + 2 * np.pi * body.cadence * t

    distance, lateral, phase = at(times)
    distance_d, lateral_d, phase_d = at(times + time_offset)
    light = room.light[None] + rng.normal(0.0, 0.25, (n, 3))
    margin = rng.uniform(0.08, 0.2, n)
    width_m = body.height * (1 + margin) * 0.5
    return Views(
        distance=distance, lateral=lateral, yaw=heading + rng.normal(0.0, 0.1, n),
        phase=phase, distance_d=distance_d, lateral_d=lateral_d, phase_d=phase_d,
        margin=margin,
        shift=np.stack([rng.normal(0, 0.04, n) * width_m,
                        rng.normal(0, 0.025, n) * body.height], 1),
        light=light / np.linalg.norm(light, axis=1, keepdims=True),
        ambient=rng.uniform(0.3, 0.5, n), gain=rng.uniform(0.75, 1.25, n),
        cast=room.cast[None] * np.exp(rng.normal(0.0, 0.04, (n, 3))),
    )


def crop_grid(body: sb.Body, views: Views, size: tuple[int, int]) -> Grid:
    """The detector's crop: the person's height plus a margin, centred with jitter."""
    h, w = size
    step = body.height * (1 + views.margin) / h
    centre_x, centre_y = views.shift[:, 0], body.height / 2 + views.shift[:, 1]
    return Grid(x0=centre_x - w * step / 2, y0=centre_y + h * step / 2, step=step,
                height=h, width=w)


def depth_time_grid(grid: Grid, views: Views, camera_height: float) -> Grid:
    """The same crop pixels expressed relative to the person at depth time."""
    scale = views.distance_d / views.distance
    hc = camera_height
    return Grid(x0=(views.lateral + grid.x0) * scale - views.lateral_d,
                y0=hc + (grid.y0 - hc) * scale, step=grid.step * scale,
                height=grid.height, width=grid.width)

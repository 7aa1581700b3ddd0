"""The built-in synthetic RGB-D person data set (the suite's default data set).

Articulated people walk through rooms in front of a simulated Kinect v1. Each body
(proportions, posture, gait, skin, hair) keeps its shape in every frame; each
*instance* (pid) is a body in one outfit, and a fraction of the bodies come back in a
second outfit as a separate pid, as in BIWI. Frames vary the walking direction and
phase, the distance, the crop, the light and the background. Body shape is seen by
both modalities, clothing colour only by RGB: RGB-to-RGB matching is the easy task,
depth-to-depth harder, cross-modal matching has to go through shape.

See ``synthetic_body`` (people), ``synthetic_render`` (z-buffer and clothes),
``synthetic_scene`` (rooms and walks) and ``synthetic_sensor`` (Kinect noise).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmark.datasets import synthetic_body as sb
from benchmark.datasets import synthetic_scene as sc
from benchmark.datasets import synthetic_sensor as ss
from benchmark.datasets.base import Dataset
from benchmark.datasets.synthetic_geometry import depth_geometry
from benchmark.datasets.synthetic_render import Surface, albedo, render_parts
from methods.core.errors import ConfigError
from methods.core.frames import PairedFrames

BACKGROUNDS = ("room", "none")
CLOTHING = ("varied", "uniform")
BATCH = 64  # frames rendered together (bounds the memory of large sequences)


@dataclass(frozen=True)
class SyntheticOptions:
    """Options of the ``synthetic`` data set.

    identities: number of bodies (people).
    frames_per_identity: paired frames per instance, spread over the sequences.
    second_outfit_fraction: fraction of the bodies recorded again in other clothes,
        each as an extra pid (rounded to a whole number of bodies).
    sequences: recordings (rooms / cameras) per instance; sequence s of every
        person shares room s.
    seed: every random choice derives from it.
    time_offset: seconds by which the depth frame lags the RGB frame (RobotPKU-like
        unsynchronised capture); 0 = the two are taken at the same instant.
    background: "room" = depth sees floor, wall and furniture; "none" = depth has no
        readings off the person (a segmented user mask). RGB always shows the room.
    clothing: "varied" = every outfit drawn at random; "uniform" = everyone wears the
        same plain grey clothes without bag, hat or skirt, so that only the body (shape,
        gait, skin, hair) tells people apart: a control for whether a method matches
        across modalities through shape.
    """

    identities: int = 100
    frames_per_identity: int = 16
    second_outfit_fraction: float = 0.25
    sequences: int = 2
    seed: int = 0
    time_offset: float = 0.0
    background: str = "room"
    clothing: str = "varied"

    def __post_init__(self) -> None:
        for name in ("identities", "frames_per_identity", "sequences", "seed"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise ConfigError(f"synthetic: {name} must be an integer, got "
                                  f"{getattr(self, name)!r}")
        if self.identities < 1:
            raise ConfigError(f"synthetic: identities must be >= 1, got {self.identities}")
        if self.sequences < 1:
            raise ConfigError(f"synthetic: sequences must be >= 1, got {self.sequences}")
        if self.frames_per_identity < self.sequences:
            raise ConfigError(f"synthetic: frames_per_identity ({self.frames_per_identity}) "
                              f"must be at least sequences ({self.sequences})")
        if not 0.0 <= self.second_outfit_fraction <= 1.0:
            raise ConfigError(f"synthetic: second_outfit_fraction must be in [0, 1], got "
                              f"{self.second_outfit_fraction}")
        if not 0.0 <= self.time_offset <= 1.0:
            raise ConfigError(f"synthetic: time_offset must be in [0, 1] s, got "
                              f"{self.time_offset}")
        for name, choices in (("background", BACKGROUNDS), ("clothing", CLOTHING)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"synthetic: {name} must be one of {choices}, got "
                                  f"{getattr(self, name)!r}")


GREY = (0.18, 0.18, 0.18)
UNIFORM = sb.Outfit(top=GREY, bottom=GREY, shoes=(0.05, 0.05, 0.05), accent=GREY,
                    pattern="plain", stripe_period=0.1, long_sleeves=True, shorts=False,
                    hem=0.53, bag="none", bag_colour=GREY)


@dataclass(frozen=True)
class Instance:
    """One pid: a body in one outfit."""

    pid: int
    body_index: int
    outfit_index: int
    body: sb.Body
    outfit: sb.Outfit


@dataclass(frozen=True)
class Recording:
    """Rendered frames of one instance, with the true person masks of both modalities."""

    rgb: np.ndarray
    depth: np.ndarray
    sequences: np.ndarray
    rgb_mask: np.ndarray
    depth_mask: np.ndarray
    intrinsics: np.ndarray
    skeletons: np.ndarray


def instances(options: SyntheticOptions) -> list[Instance]:
    """Every pid of the data set: bodies 0..n-1 first, then the second outfits."""
    seed = options.seed
    bodies = [sb.sample_body(np.random.default_rng([seed, 0, b]))
              for b in range(options.identities)]
    outfits = [sb.sample_outfit(np.random.default_rng([seed, 1, b, 0]))
               for b in range(options.identities)]
    if options.clothing == "uniform":
        outfits = [UNIFORM] * options.identities
    result = [Instance(b, b, 0, bodies[b], outfits[b]) for b in range(options.identities)]
    n_second = int(round(options.second_outfit_fraction * options.identities))
    chosen = np.sort(np.random.default_rng([seed, 4]).choice(
        options.identities, n_second, replace=False))
    for k, b in enumerate(chosen):
        outfit = UNIFORM if options.clothing == "uniform" else \
            sb.sample_outfit(np.random.default_rng([seed, 1, b, 1]), avoid=outfits[b])
        result.append(Instance(options.identities + k, int(b), 1, bodies[b], outfit))
    return result


def rooms(options: SyntheticOptions) -> list[sc.Room]:
    """The room of every sequence, shared by all people."""
    return [sc.sample_room(np.random.default_rng([options.seed, 3, s]))
            for s in range(options.sequences)]


def record(instance: Instance, room_list: list[sc.Room], options: SyntheticOptions,
           size: tuple[int, int]) -> Recording:
    """Render every frame of one instance, ``frames_per_identity`` split over sequences."""
    key = [options.seed, instance.body_index, instance.outfit_index]
    walk_rng = np.random.default_rng([*key, 2])
    noise_rng = np.random.default_rng([*key, 5])
    counts = [len(c) for c in np.array_split(np.arange(options.frames_per_identity),
                                             options.sequences)]
    parts, geometry = [], []
    for s, count in enumerate(counts):
        views = sc.sample_walk(instance.body, room_list[s], count, walk_rng, options.time_offset)
        for start in range(0, count, BATCH):
            batch = views.select(slice(start, start + BATCH))
            parts.append(render_views(instance.body, instance.outfit, room_list[s], batch,
                                      size, noise_rng, options.background == "room"))
            geometry.append(depth_geometry(instance.body, room_list[s], batch, size))
    return Recording(
        rgb=np.concatenate([p[0] for p in parts]), depth=np.concatenate([p[1] for p in parts]),
        sequences=np.repeat(np.arange(options.sequences), counts),
        rgb_mask=np.concatenate([p[2] for p in parts]),
        depth_mask=np.concatenate([p[3] for p in parts]),
        intrinsics=np.concatenate([g[0] for g in geometry]),
        skeletons=np.concatenate([g[1] for g in geometry]))


def render_views(body: sb.Body, outfit: sb.Outfit, room: sc.Room, views: sc.Views,
                 size: tuple[int, int], rng: np.random.Generator, depth_background: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """RGB (uint8), depth (uint16 mm) and person masks of both, for a batch of views."""
    grid = sc.crop_grid(body, views, size)
    surface = render_parts(sb.body_parts(body, outfit, views.phase, views.yaw), grid)
    background = sc.render_room(room, grid, views.lateral, views.distance)
    radiance = background.colour * _wall_shade(background.floor, views)
    f, i, j = np.nonzero(surface.mask)
    reflectance = albedo(surface.label[f, i, j], surface.local[f, i, j], grid.ys()[f, i, 0],
                         body, outfit)
    radiance[f, i, j] = reflectance * _shade(surface.normal[f, i, j], views, f)
    rgb = ss.rgb_camera(radiance, views.gain, views.cast, rng)

    if np.array_equal(views.phase_d, views.phase) and np.array_equal(views.distance_d,
                                                                     views.distance):
        surface_d, grid_d = surface, grid
    else:
        grid_d = sc.depth_time_grid(grid, views, room.camera_height)
        surface_d = render_parts(sb.body_parts(body, outfit, views.phase_d, views.yaw), grid_d)
    person = surface_d.mask
    far = background.depth if depth_background else np.zeros_like(background.depth)
    distance = views.distance_d.astype(np.float32)[:, None, None]
    z = np.where(person, distance + np.where(person, surface_d.z, 0), far)
    incidence = np.where(person, -surface_d.normal[..., 2], background.incidence)
    depth = ss.kinect_depth(z, incidence, grid.step, views.distance, rng,
                            dropout=_hair_dropout(surface_d, body))
    return rgb, depth, surface.mask, person


def _shade(normal: np.ndarray, views: sc.Views, frame: np.ndarray) -> np.ndarray:
    """Lambertian shading (k, 1) of person pixels with unit ``normal`` (k, 3) in frames
    ``frame`` (k,): the frame's ambient light plus its directional light."""
    light = views.light.astype(np.float32)[frame]
    ambient = views.ambient.astype(np.float32)[frame][:, None]
    diffuse = np.maximum((normal * light).sum(-1, keepdims=True), np.float32(0))
    return ambient + (1.0 - ambient) * np.float32(1.1) * diffuse


def _wall_shade(floor: np.ndarray, views: sc.Views) -> np.ndarray:
    """Shading of the background: walls face the camera (-z), the floor faces up (+y)."""
    ambient = views.ambient[:, None]
    wall = ambient + (1.0 - ambient) * np.clip(-views.light[:, 2:3], 0.0, None)
    ground = ambient + (1.0 - ambient) * np.clip(views.light[:, 1:2], 0.0, None)
    lit = np.where(floor, ground.astype(np.float32)[:, :, None],
                   wall.astype(np.float32)[:, :, None])
    return lit[..., None]


def _hair_dropout(surface: Surface, body: sb.Body) -> np.ndarray | None:
    """Dark hair absorbs the infrared pattern: missing depth with a darkness-dependent
    probability on the hair (taken here as the upper back of the head)."""
    darkness = 1.0 - float(np.mean(body.hair)) / 0.3
    if darkness <= 0:
        return None
    local = surface.local
    hair = (surface.label == sb.HEAD) & ((local[..., 1] > 0.35) | (local[..., 2] > -0.15))
    return np.where(hair, np.float32(0.4 * darkness), np.float32(0.0))


def generate(options: SyntheticOptions, size: tuple[int, int]) -> PairedFrames:
    """The whole data set at crop size ``size`` (h, w); rows ordered by pid.

    Instances render in parallel threads (numpy releases the GIL); every instance has
    its own random streams, so the result does not depend on the number of threads.
    """
    room_list = rooms(options)
    people = instances(options)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        rendered = pool.map(lambda inst: record(inst, room_list, options, size), people)
        recordings = [(inst.pid, r) for inst, r in zip(people, rendered, strict=True)]
    pids = np.concatenate([np.full(len(r.rgb), pid, np.int64) for pid, r in recordings])
    return PairedFrames(
        pids=pids,
        sequences=np.concatenate([r.sequences for _, r in recordings]).astype(np.int64),
        frames=np.arange(len(pids), dtype=np.int64),
        rgb=np.concatenate([r.rgb for _, r in recordings]),
        depth=np.concatenate([r.depth for _, r in recordings]),
        masks=np.concatenate([r.depth_mask for _, r in recordings]).astype(np.uint8),
        skeletons=np.concatenate([r.skeletons for _, r in recordings]),
        intrinsics=np.concatenate([r.intrinsics for _, r in recordings]))


class SyntheticDataset(Dataset):
    """Synthetic walking people seen by a simulated Kinect v1 (no download needed)."""

    name = "synthetic"
    Options = SyntheticOptions
    split_sizes = None
    preprocess_version = 3  # 3: adds the person masks, skeletons and intrinsics

    def build(self, size: tuple[int, int]) -> PairedFrames:
        h, w = (int(v) for v in size)
        if h < 8 or w < 4:
            raise ConfigError(f"synthetic: crop size {size} is too small (at least 8x4)")
        return generate(self.options, (h, w))

    def body_of_pid(self) -> np.ndarray:
        """(n_pids,) body index of every pid: second outfits share their body's index."""
        return np.array([inst.body_index for inst in instances(self.options)], np.int64)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["pids"] = len(instances(self.options))
        return info

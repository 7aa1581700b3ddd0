"""Reading BIWI RGBD-ID as distributed: file scan, PGM/skeleton parsing, one frame's crops.

Folders: ``Training/<subject>/``, ``Testing/Still/<subject>/``, ``Testing/Walking/<subject>/``.
Five files per frame, ``<subject>_<frame>-<slot>_<timestamp>_<kind>`` with kind ``rgb.jpg``
(1280x960), ``depth.pgm`` (640x480, 16-bit big-endian mm), ``userMap.pgm`` (640x480 8-bit
Kinect player index), ``skel.txt`` and ``groundCoeff.txt``. The streams' timestamps differ,
so a frame's files are matched on ``<subject>_<frame>``.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmark.datasets.cropping import (
    DEPTH_CX,
    DEPTH_CY,
    DEPTH_FOCAL,
    Box,
    clip_box,
    crop_resize,
    mask_box,
    pad_box,
    rgb_box_of_mask,
)
from methods.core.errors import DatasetError

SEQUENCES = (("Training",), ("Testing", "Still"), ("Testing", "Walking"))
SEQUENCE_NAMES = ("Training", "Testing/Still", "Testing/Walking")
FILE_PATTERN = re.compile(
    r"^(\d+)_(\d+)-[A-Za-z]+_\d+_(rgb\.jpg|depth\.pgm|userMap\.pgm|skel\.txt|groundCoeff\.txt)$")
KINDS = {"rgb.jpg": "rgb", "depth.pgm": "depth", "userMap.pgm": "usermap", "skel.txt": "skel"}
FAR_MM = 10_000  # beyond the Kinect v1's range: a reading this far means garbled depth
PERSON_MEDIAN_MM = (400, 9_000)
SKELETON_PAD_M = (0.15, 0.12, 0.06)  # sides, above the head joint, below the feet
SKELETON_DEPTH_BAND_MM = 600
RGB_PER_DEPTH = 2  # RGB 1280x960 for depth 640x480


@dataclass(frozen=True)
class RawFrame:
    """One time step's files; ``sequence`` 0 = Training, 1 = Still, 2 = Walking."""

    subject: int
    sequence: int
    frame: int
    rgb: str | None = None
    depth: str | None = None
    usermap: str | None = None
    skel: str | None = None

    @property
    def key(self) -> int:
        """The time-step key: unique over the data set."""
        return self.subject * 10_000_000 + self.sequence * 1_000_000 + self.frame


@dataclass
class RawScan:
    """The pairable frames of a raw BIWI tree and the frames left out while scanning."""

    frames: list[RawFrame]
    skipped: Counter = field(default_factory=Counter)
    unpaired_examples: list[str] = field(default_factory=list)


def is_raw_biwi(root: Path) -> bool:
    """Whether ``root`` looks like the extracted BIWI RGBD-ID archives."""
    return (root / "Training").is_dir() or (root / "Testing").is_dir()


def scan_raw(root: Path) -> RawScan:
    """Group the tree's files into frames; frames without both RGB and depth are skipped."""
    scan = RawScan([])
    for sequence, parts in enumerate(SEQUENCES):
        folder = root.joinpath(*parts)
        if not folder.is_dir():
            continue
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            if entry.is_dir() and entry.name.isdigit():
                _scan_subject(Path(entry.path), int(entry.name), sequence, scan)
    scan.frames.sort(key=lambda f: f.key)  # subject, then sequence, then frame
    return scan


def _scan_subject(folder: Path, subject: int, sequence: int, scan: RawScan) -> None:
    files: dict[int, dict[str, str]] = {}
    for name in sorted(os.listdir(folder)):
        match = FILE_PATTERN.match(name)
        if match is None or match.group(3) not in KINDS:
            continue
        if int(match.group(1)) != subject:
            raise DatasetError(f"{folder / name} names subject {int(match.group(1))} but lies "
                               f"in the folder of subject {subject}; the tree is mixed up")
        files.setdefault(int(match.group(2)), {})[KINDS[match.group(3)]] = str(folder / name)
    for frame, kinds in sorted(files.items()):
        if "rgb" in kinds and "depth" in kinds:
            scan.frames.append(RawFrame(subject, sequence, frame, **kinds))
            continue
        reason = "missing_depth" if "rgb" in kinds else "missing_rgb" if "depth" in kinds \
            else "missing_rgb_and_depth"
        scan.skipped[reason] += 1
        if len(scan.unpaired_examples) < 5:
            scan.unpaired_examples.append(f"{next(iter(kinds.values()))} ({reason})")


def read_pgm(path: str) -> np.ndarray:
    """A binary (P5) PGM as uint8 or uint16; 16-bit samples are big-endian, as the format says.

    Raises DatasetError naming the file for anything but a complete P5 file.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error}") from error
    if not data.startswith(b"P5"):
        raise DatasetError(f"{path} is not a binary PGM: it starts with {data[:8]!r}")
    fields, pos = [], 2
    while len(fields) < 3:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.find(b"\n", pos) + 1 or len(data)
            continue
        end = pos
        while end < len(data) and data[end:end + 1].isdigit():
            end += 1
        if end == pos:
            raise DatasetError(f"{path} has a broken PGM header: {data[:40]!r}")
        fields.append(int(data[pos:end]))
        pos = end
    width, height, maxval = fields
    pos += 1  # the single whitespace character that ends the header
    dtype = np.dtype(">u2") if maxval > 255 else np.dtype(np.uint8)
    expected = width * height * dtype.itemsize
    if len(data) - pos != expected:
        raise DatasetError(f"{path}: PGM header says {width}x{height} maxval {maxval} "
                           f"({expected} bytes of pixels), the file has {len(data) - pos}")
    return np.frombuffer(data, dtype=dtype, count=width * height, offset=pos).reshape(
        height, width)


def read_depth(path: str) -> np.ndarray:
    """A BIWI depth map as native uint16 millimetres; garbled files raise DatasetError."""
    depth = read_pgm(path)
    if depth.dtype != np.dtype(">u2"):
        raise DatasetError(f"{path}: an 8-bit PGM; BIWI depth maps are 16-bit millimetres "
                           f"(maxval 65535)")
    depth = depth.astype(np.uint16)
    valid = depth[depth > 0]
    if len(valid) and np.mean(valid > FAR_MM) > 0.25:
        raise DatasetError(f"{path}: {np.mean(valid > FAR_MM):.0%} of the readings lie beyond "
                           f"{FAR_MM // 1000} m (median {int(np.median(valid))}); the file is "
                           f"not big-endian millimetres (little-endian or garbled?)")
    return depth


REDUCED_READS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                 4: cv2.IMREAD_REDUCED_COLOR_4}


def read_rgb(path: str, reduce: int = 1) -> np.ndarray:
    """An RGB image, (h, w, 3) uint8 in RGB order, decoded at 1/``reduce`` (1, 2 or 4) size.

    A reduced JPEG decode skips most of the work and loses nothing when the crop is shrunk
    at least as much afterwards.
    """
    image = cv2.imread(path, REDUCED_READS[reduce])
    if image is None:
        found = f"{os.path.getsize(path)} bytes" if os.path.exists(path) else "no file"
        raise DatasetError(f"cannot decode the image {path} ({found})")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _best_slot(path: str) -> tuple[np.ndarray, np.ndarray]:
    """The best-tracked skeleton slot of ``skel.txt``: its (20, columns) rows and which
    joints are tracked (player id, tracking state and Z all positive)."""
    try:
        rows = np.loadtxt(path, delimiter=",", ndmin=2)
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read the skeleton file {path}: {error}") from error
    if rows.shape[1] < 7 or len(rows) % 20:
        raise DatasetError(f"{path}: expected rows of 20 joints with at least 7 values, got "
                           f"an array of shape {rows.shape}")
    slots = rows.reshape(-1, 20, rows.shape[1])
    tracked = (slots[:, :, 0] > 0) & (slots[:, :, 6] > 0) & (slots[:, :, 3] > 0)
    best = int(np.argmax(tracked.sum(axis=1)))
    return slots[best], tracked[best]


def read_skeleton(path: str | None) -> np.ndarray | None:
    """The tracked joints of the best-tracked skeleton slot: (k, 3) rows of (u, v, z_mm).

    ``skel.txt`` holds 2 slots x 20 Kinect v1 joints, one per row: player id, X, Y, Z (m),
    u, v (depth pixels), tracking state (0 = not tracked), ... ``None`` if nothing is tracked.
    """
    if path is None:
        return None
    slot, tracked = _best_slot(path)
    if tracked.sum() < 2:
        return None
    joints = slot[tracked]
    return np.column_stack([joints[:, 4], joints[:, 5], joints[:, 3] * 1000.0])


def read_joints(path: str | None) -> np.ndarray | None:
    """(20, 3) X, Y, Z (metres, Y up) of the best-tracked skeleton slot, NaN for joints
    not tracked; ``None`` without a file or a tracked joint."""
    if path is None:
        return None
    slot, tracked = _best_slot(path)
    if not tracked.any():
        return None
    return np.where(tracked[:, None], slot[:, 1:4], np.nan)


def crop_intrinsics(box: Box, size: tuple[int, int]) -> np.ndarray:
    """(fx, fy, cx, cy) of a depth crop ``box`` resized to ``size`` (h, w): the output
    pixel u samples input column left + u (right - left) / w."""
    top, bottom, left, right = box
    sy, sx = (bottom - top) / size[0], (right - left) / size[1]
    return np.array([DEPTH_FOCAL / sx, DEPTH_FOCAL / sy, (DEPTH_CX - left) / sx,
                     (DEPTH_CY - top) / sy])


def skeleton_mask(joints: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """A person mask from skeleton joints: the padded joint box, depth near the joints'."""
    z = float(np.median(joints[:, 2]))
    px = np.array(SKELETON_PAD_M) * DEPTH_FOCAL / (z / 1000.0)
    h, w = depth.shape
    top = int(max(joints[:, 1].min() - px[1], 0))
    bottom = int(min(joints[:, 1].max() + px[2], h))
    left, right = int(max(joints[:, 0].min() - px[0], 0)), int(min(joints[:, 0].max() + px[0], w))
    mask = np.zeros(depth.shape, dtype=bool)
    region = depth[top:bottom, left:right].astype(np.int64)
    mask[top:bottom, left:right] = (region > 0) & (np.abs(region - z) < SKELETON_DEPTH_BAND_MM)
    return mask


@dataclass(frozen=True)
class CropSettings:
    """How a raw frame becomes a pair of crops."""

    size: tuple[int, int]
    min_person_pixels: int
    margin: float
    mask_depth: bool


@dataclass(frozen=True)
class FrameCrops:
    """One frame's crops, or why it was skipped (``reason``), and what was measured."""

    rgb: np.ndarray | None = None
    depth: np.ndarray | None = None
    reason: str | None = None
    source: str = ""
    person_pixels: int = 0
    person_median_mm: float = 0.0
    depth_box: Box | None = None
    rgb_box: Box | None = None  # in full-resolution RGB pixels
    mask: np.ndarray | None = None  # the person mask on the depth crop
    joints: np.ndarray | None = None  # (20, 3) metres, NaN where not tracked
    intrinsics: np.ndarray | None = None  # of the depth crop


def person_mask(frame: RawFrame, depth: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The person's depth pixels: the user map's largest player, else the skeleton."""
    if frame.usermap is not None:
        users = read_pgm(frame.usermap)
        if users.shape != depth.shape:
            raise DatasetError(f"{frame.usermap}: user map {users.shape[::-1]} differs from "
                               f"the depth map {depth.shape[::-1]} of {frame.depth}")
        labelled = (users > 0) & (depth > 0)
        if labelled.any():
            label = int(np.argmax(np.bincount(users[labelled])))
            return labelled & (users == label), "usermap"
    joints = read_skeleton(frame.skel)
    if joints is None:
        return None, ""
    return skeleton_mask(joints, depth), "skeleton"


def crop_frame(frame: RawFrame, settings: CropSettings) -> FrameCrops:
    """Decode one frame and crop the person in both modalities (a pure function of its files).

    The person is the user map's largest player (``> 0``, depth 0 ignored), or, with an
    empty user map, the depth pixels near the tracked skeleton. The depth-image mask maps
    into the RGB image through the Kinect v1 calibration; both boxes grow by ``margin``
    and to the output's aspect ratio.
    """
    depth = read_depth(frame.depth)
    mask, source = person_mask(frame, depth)
    if mask is None:
        return FrameCrops(reason="no_person")
    pixels = int(mask.sum())
    if pixels < settings.min_person_pixels:
        return FrameCrops(reason="small_person", source=source, person_pixels=pixels)
    median = float(np.median(depth[mask]))
    if not PERSON_MEDIAN_MM[0] <= median <= PERSON_MEDIAN_MM[1]:
        raise DatasetError(f"{frame.depth}: the person's median depth is {median:.0f} mm, "
                           f"outside {PERSON_MEDIAN_MM[0]}-{PERSON_MEDIAN_MM[1]} mm; the file is "
                           f"not big-endian millimetres (little-endian or garbled?)")
    aspect = settings.size[0] / settings.size[1]
    depth_box = pad_box(mask_box(mask), settings.margin, aspect, depth.shape)
    full_shape = (depth.shape[0] * RGB_PER_DEPTH, depth.shape[1] * RGB_PER_DEPTH)
    rgb_box = pad_box(rgb_box_of_mask(mask, depth, full_shape), settings.margin, aspect,
                      full_shape)
    reduce = max(r for r in (1, 2, 4) if r == 1 or rgb_box[1] - rgb_box[0] >= r * settings.size[0])
    rgb = read_rgb(frame.rgb, reduce)
    if rgb.shape[0] * reduce < full_shape[0] - 4 or rgb.shape[1] * reduce < full_shape[1] - 4:
        raise DatasetError(f"{frame.rgb}: {rgb.shape[1] * reduce}x{rgb.shape[0] * reduce} "
                           f"pixels; BIWI RGB images are {full_shape[1]}x{full_shape[0]}, twice "
                           f"the depth map {frame.depth}")
    rgb_box = clip_box(tuple(b // reduce for b in rgb_box), rgb.shape[:2])
    depth_source = np.where(mask, depth, 0).astype(np.uint16) if settings.mask_depth else depth
    return FrameCrops(crop_resize(rgb, rgb_box, settings.size),
                      crop_resize(depth_source, depth_box, settings.size, nearest=True),
                      source=source, person_pixels=pixels, person_median_mm=median,
                      depth_box=depth_box,
                      rgb_box=tuple(b * reduce for b in rgb_box),
                      mask=crop_resize(mask.astype(np.uint8), depth_box, settings.size,
                                       nearest=True),
                      joints=read_joints(frame.skel),
                      intrinsics=crop_intrinsics(depth_box, settings.size))

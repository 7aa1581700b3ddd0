"""The open-reid "prepared" layout that the authors' code reads, shared by BIWI and RobotPKU.

Layout under ``root`` (``<rgb>``/``<depth>`` = ``biwi``/``biwi_depth`` or ``pku``/``pku_depth``)::

    <root>/<rgb>/images/00000000_00_0000.jpg ...    RGB person crops
    <root>/<rgb>/meta.json                          optional: the authors' image list
    <root>/<depth>/images/00000000_00_0000.jpg ...  8-bit depth crops, same names
    <root>/<depth>/meta.json                        optional

Image names are ``%08d_%02d_%04d.jpg`` (person, camera, index). An RGB image and its depth
twin share the name. Identities come from ``meta.json`` (``identities[pid][camera]`` =
names): the folder's own if present, else the copy of the authors' list shipped with this
package. Depth: the 8-bit grey level is stored unchanged in the uint16 depth field (0..255,
not millimetres; how the authors turned 16-bit depth into 8 bits is unpublished; 0 = no
reading, up to JPEG noise).

Decoding and resizing follow the data set's ``resize`` option
(:mod:`methods.core.resize`): ``"opencv"`` decodes with OpenCV, ``"pil-bilinear"``
decodes with PIL, as the authors' ``Image.open(...).convert('RGB')``
(``open-reid/reid/utils/data/preprocessor.py:40``), so the pixels equal theirs; a depth
JPEG stored in colour is reduced to its luma either way.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from benchmark.datasets.authors_splits import ImageList, images_from_meta, parse_image_name
from methods.core.errors import DatasetError
from methods.core.resize import resize_depth, resize_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass
class PreparedScan:
    """The paired images of a prepared tree (rows sorted by name) and what was left out."""

    names: list[str]
    pids: np.ndarray
    cameras: np.ndarray
    frames: np.ndarray
    rgb_dir: Path
    depth_dir: Path
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    meta_source: str = ""


def is_prepared(root: Path, rgb: str, depth: str) -> bool:
    """Whether ``root`` holds ``<rgb>/images`` or ``<depth>/images``."""
    return (root / rgb / "images").is_dir() or (root / depth / "images").is_dir()


def frame_key(person: int, camera: int, index: int) -> int:
    """The time-step key of a prepared image: unique per name."""
    return person * 1_000_000 + camera * 10_000 + index


def _image_names(folder: Path) -> set[str]:
    try:
        return {n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES)}
    except OSError as error:
        raise DatasetError(f"cannot list {folder}: {error}") from error


def _image_list(root: Path, rgb: str, depth: str, shipped: ImageList) -> tuple[ImageList, str]:
    paths = [root / d / "meta.json" for d in (rgb, depth) if (root / d / "meta.json").is_file()]
    if not paths:
        return shipped, "shipped copy of the authors' meta.json"
    lists = [images_from_meta(p) for p in paths]
    if len(lists) == 2 and not (np.array_equal(lists[0].names, lists[1].names)
                                and np.array_equal(lists[0].pids, lists[1].pids)):
        raise DatasetError(f"{paths[0]} and {paths[1]} list different images or identities; "
                           f"the two modalities must list the same names")
    return lists[0], str(paths[0])


def scan_prepared(root: Path, rgb: str, depth: str, shipped: ImageList) -> PreparedScan:
    """Pair the two modalities' images by name and give each its identity from meta.json.

    Left out, counted by reason: ``missing_depth`` / ``missing_rgb`` (the twin is absent),
    ``not_in_meta`` (no identity for the name), ``bad_name`` (not ``%08d_%02d_%04d``).
    """
    rgb_dir, depth_dir = root / rgb / "images", root / depth / "images"
    for folder in (rgb_dir, depth_dir):
        if not folder.is_dir():
            raise DatasetError(f"{folder} does not exist; the prepared layout needs both "
                               f"{rgb_dir} and {depth_dir}")
    images, source = _image_list(root, rgb, depth, shipped)
    rgb_names, depth_names = _image_names(rgb_dir), _image_names(depth_dir)
    if not rgb_names and not depth_names:
        raise DatasetError(f"{rgb_dir} and {depth_dir} hold no .jpg/.png images")
    row_of = images.index()
    skipped: Counter = Counter()
    examples: list[str] = []
    kept = []
    for name in sorted(rgb_names | depth_names):
        reason = ("missing_depth" if name not in depth_names else
                  "missing_rgb" if name not in rgb_names else
                  "bad_name" if parse_image_name(name) is None else
                  "not_in_meta" if name not in row_of else None)
        if reason is None:
            kept.append(name)
            continue
        skipped[reason] += 1
        if len(examples) < 5:
            where = depth_dir if reason == "missing_rgb" else rgb_dir
            examples.append(f"{where / name} ({reason})")
    rows = np.array([row_of[n] for n in kept], dtype=np.int64)
    parsed = np.array([parse_image_name(n) for n in kept], dtype=np.int64).reshape(-1, 3)
    return PreparedScan(kept, images.pids[rows], parsed[:, 1],
                        frame_key(parsed[:, 0], parsed[:, 1], parsed[:, 2]),
                        rgb_dir, depth_dir, skipped, examples, source)


def _decode(path: str, colour: bool, kernel: str) -> np.ndarray:
    if kernel == "pil-bilinear":
        try:
            with Image.open(path) as image:
                return np.asarray(image.convert("RGB" if colour else "L"))
        except OSError:
            image = None
    else:
        image = cv2.imread(path, cv2.IMREAD_COLOR if colour else cv2.IMREAD_GRAYSCALE)
        if image is not None:
            return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if colour else image
    found = f"{os.path.getsize(path)} bytes" if os.path.exists(path) else "no file"
    raise DatasetError(f"cannot decode the image {path} ({found})")


def decode_prepared_pair(rgb_path: str, depth_path: str, kernel: str = "opencv"
                         ) -> tuple[np.ndarray, np.ndarray]:
    """One prepared pair in its stored size: RGB uint8 and the 8-bit depth as uint16,
    decoded by the library of ``kernel``."""
    return (_decode(rgb_path, True, kernel),
            _decode(depth_path, False, kernel).astype(np.uint16))


def read_prepared_pair(rgb_path: str, depth_path: str, size: tuple[int, int],
                       kernel: str = "opencv") -> tuple[np.ndarray, np.ndarray]:
    """One prepared pair resized to ``size`` with ``kernel``: RGB uint8, 8-bit depth as uint16."""
    rgb, depth = decode_prepared_pair(rgb_path, depth_path, kernel)
    return resize_rgb(rgb, size, kernel), resize_depth(depth, size, kernel)

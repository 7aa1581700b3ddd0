"""Your own RGB-D data: one CSV file lists every image (``--dataset manifest --root DIR``).

``DIR/manifest.csv`` has one row per image and the columns ``person_id``, ``modality``
(``rgb`` or ``depth``) and ``path`` (relative to ``DIR``); optional: ``camera``,
``sequence`` (or ``passage``), ``frame``, ``paired`` (the path of the other modality's
image of the same moment), ``mask`` (a person mask in the depth image's pixels, non-zero =
person) and ``split`` (``train``, ``val`` or ``test`` per identity).

Pairing: an RGB row's ``paired`` path names its depth row; without that column, rows pair
on (person, camera, sequence, frame), and without ``frame`` the k-th RGB and the k-th depth
image of a (person, camera, sequence) pair up, in file order.

Depth: a 16-bit PNG is millimetres, an 8-bit image is kept as grey levels 0..255 (as the
prepared layout); 0 = no reading. Crops: with a mask, the person's box grows by ``margin``
and to the run's aspect ratio and both modalities are cut and resized as BIWI's raw frames
(:mod:`benchmark.datasets.cropping`); without one, the whole image is resized as the
prepared layout's crops (:mod:`methods.core.resize`).

Folds (``split_source``): ``column`` (the split column; without ``val`` rows a seeded share
of the training identities is drawn as validation per fold), ``splits-json`` (an open-reid
``DIR/splits.json``; fold k = split ``splits[k]``) or ``generate`` (seeded identity folds
in the paper's 32/8/38 proportions, as the synthetic set's; every record stores its
fold's identity lists); ``auto`` takes the first that applies. Every bad row is named
with its line in one :class:`DatasetError` before anything is decoded.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from PIL import Image

from benchmark.datasets.authors_splits import folds_of_splits, read_splits
from benchmark.datasets.base import Dataset
from benchmark.datasets.cropping import clip_box, crop_resize, mask_box, pad_box
from benchmark.datasets.real import RealDataset, RealOptions, check_choice, parallel_map
from benchmark.evaluation.protocol_tvrid import Passages
from benchmark.evaluation.splits import Fold, published_name
from methods.core.errors import ConfigError, DatasetError
from methods.core.frames import MODALITIES, PairedFrames
from methods.core.resize import resize_depth, resize_rgb

log = logging.getLogger(__name__)
REQUIRED = ("person_id", "modality", "path")
OPTIONAL = ("camera", "sequence", "frame", "paired", "mask", "split")
ALIASES = {"passage": "sequence", "paired_path": "paired", "mask_path": "mask"}
SPLIT_SOURCES = ("auto", "column", "splits-json", "generate")
SPLIT_NAMES = {"train": "train", "val": "val", "test": "test", "query": "test",
               "gallery": "test"}
VAL_SHARE = 8 / 40  # the paper's validation share of the training identities (32/8)
DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I", "L", "RGB", "P")
SHOWN = 40  # bad rows named in one message


@dataclass(frozen=True)
class ManifestOptions(RealOptions):
    """Options of the ``manifest`` data set (and those of :class:`RealOptions`).

    root: the folder with ``manifest.csv`` (paths in it are relative to this folder).
    manifest: the CSV file's name under ``root``.
    layout: ``auto`` or ``manifest`` (the same).
    split_source: ``auto``, ``column``, ``splits-json`` or ``generate`` (module docstring).
    margin: masked rows: box growth on every side, a fraction of the person's height.
    """

    manifest: str = "manifest.csv"
    split_source: str = "auto"
    margin: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("layout", self.layout, ("auto", "manifest"))
        check_choice("split_source", self.split_source, SPLIT_SOURCES)
        if not 0 <= self.margin < 1:
            raise ConfigError(f"margin must be in [0, 1), got {self.margin}")


@dataclass(frozen=True)
class Pair:
    """One time step's files (absolute paths): the unit of decoding."""

    rgb: str
    depth: str
    mask: str | None = None


@dataclass(frozen=True)
class Records:
    """The checked rows: one pair per time step, its identity, sequence and split;
    ``rows`` are the pairs' RGB rows (every column), ``names`` each identity code's
    ``person_id``."""

    pairs: list[Pair]
    pids: np.ndarray
    sequences: np.ndarray
    splits: dict[int, str]
    source: str
    digest: str
    rows: pd.DataFrame
    names: dict[int, str]


def bad_rows(problems: list[str], source: str) -> DatasetError:
    """One error naming every bad row (the first :data:`SHOWN`), on one line."""
    more = f"; ... and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return DatasetError(f"{source}: {len(problems)} bad row(s): "
                        f"{'; '.join(problems[:SHOWN])}{more}")


def read_table(path: Path) -> pd.DataFrame:
    """The manifest as text columns, with its file line numbers (``line``)."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (OSError, ValueError) as error:
        raise DatasetError(f"cannot read the manifest {path}: {error}") from error
    table.columns = [ALIASES.get(c.strip().lower(), c.strip().lower()) for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise DatasetError(f"{path} lacks the column(s) {missing}; a manifest needs "
                           f"{list(REQUIRED)} and may have {list(OPTIONAL)}")
    table = table[[c for c in (*REQUIRED, *OPTIONAL) if c in table.columns]].copy()
    for column in table.columns:
        table[column] = table[column].str.strip()
    table["modality"] = table["modality"].str.lower()
    table["line"] = np.arange(len(table)) + 2  # line 1 is the header
    return table


def _depth_problem(path: Path) -> str | None:
    """Why a depth file cannot be depth (from its header), or ``None``."""
    try:
        with Image.open(path) as image:
            mode = image.mode
    except (OSError, ValueError):
        return "unreadable depth image"
    return None if mode in DEPTH_MODES else f"depth image of mode {mode} (need 16-bit or 8-bit)"


def _codes(values: pd.Series) -> np.ndarray:
    """Integer codes: the values themselves when all are integers, else their sorted rank."""
    numeric = pd.to_numeric(values, errors="coerce")
    if len(values) and not numeric.isna().any() and (numeric == numeric.round()).all():
        return numeric.to_numpy(np.int64)
    return np.unique(values.to_numpy(str), return_inverse=True)[1].astype(np.int64)


def _pair_rows(table: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    """(rgb row, depth row) index pairs, in the RGB rows' order; unpaired rows are problems."""
    rgb, depth = table[table.modality == "rgb"], table[table.modality == "depth"]
    if "paired" in table.columns:
        by_path = pd.Series(depth.index, index=depth.path)
        partner = rgb.paired.map(by_path)
        for i in rgb.index[partner.isna()]:
            row = table.loc[i]
            problems.append(f"line {row.line} ({row.path}): paired path {row.paired!r} is no "
                            f"depth row of the manifest")
        pairs = pd.DataFrame({"rgb": rgb.index[partner.notna()],
                              "depth": partner.dropna().astype(np.int64).to_numpy()})
    else:
        keys = [c for c in ("person_id", "camera", "sequence", "frame") if c in table.columns]
        if "frame" not in keys:
            table = table.assign(frame=table.groupby([*keys, "modality"]).cumcount())
            keys.append("frame")
        sides = {m: table[table.modality == m].reset_index().rename(columns={"index": m})
                 for m in MODALITIES}
        for m, side in sides.items():
            for _, row in side[side.duplicated(keys, keep="first")].iterrows():
                problems.append(f"line {row.line} ({row.path}): a second {m} image of the "
                                f"same {'/'.join(keys)}")
        pairs = sides["rgb"].drop_duplicates(keys).merge(
            sides["depth"].drop_duplicates(keys), on=keys, how="inner")[["rgb", "depth"]]
    paired = set(pairs.rgb) | set(pairs.depth)
    for i in table.index.difference(list(paired)):
        row = table.loc[i]
        other = "depth" if row.modality == "rgb" else "rgb"
        problems.append(f"line {row.line} ({row.path}): no {other} twin")
    if pairs.depth.duplicated().any():
        for i in pairs.depth[pairs.depth.duplicated()]:
            row = table.loc[i]
            problems.append(f"line {row.line} ({row.path}): paired with more than one RGB row")
    return pairs.sort_values("rgb", kind="stable")


def check_table(table: pd.DataFrame, root: Path) -> tuple[pd.DataFrame, list[str]]:
    """The (rgb, depth) row pairs of a manifest table and every problem, each naming a line."""
    problems: list[str] = []

    def flag(rows: pd.DataFrame, reason: str) -> None:
        problems.extend(f"line {r.line} ({r.path}): {reason}" for r in rows.itertuples())

    flag(table[(table.person_id == "") | (table.path == "")], "empty person_id or path")
    bad_modality = ~table.modality.isin(MODALITIES)
    for r in table[bad_modality].itertuples():
        problems.append(f"line {r.line} ({r.path}): unknown modality {r.modality!r} "
                        f"(rgb or depth)")
    duplicate = table.path.duplicated(keep="first") & (table.path != "")
    first = table.drop_duplicates("path").set_index("path").line
    for r in table[duplicate].itertuples():
        problems.append(f"line {r.line} ({r.path}): duplicate path (first on line "
                        f"{first[r.path]})")
    exists = np.array([(root / p).is_file() for p in table.path])
    flag(table[~exists & (table.path != "")], "missing file")
    if "mask" in table.columns:
        masked = table[table["mask"] != ""]
        flag(masked[[not (root / m).is_file() for m in masked["mask"]]], "missing mask file")
    depth_rows = table[(table.modality == "depth") & exists]
    for r, reason in zip(depth_rows.itertuples(),
                         [_depth_problem(root / p) for p in depth_rows.path], strict=True):
        if reason:
            problems.append(f"line {r.line} ({r.path}): {reason}")
    usable = table[~bad_modality & ~duplicate & (table.person_id != "")]
    kinds = usable.groupby("person_id").modality.agg(lambda m: sorted(set(m)))
    for person, found in kinds[kinds.map(len) < 2].items():
        rows = usable[usable.person_id == person]
        problems.append(f"line {rows.line.iloc[0]} ({rows.path.iloc[0]}): person {person!r} "
                        f"has {found[0]} images only ({len(rows)} rows)")
    whole = usable[usable.person_id.isin(kinds[kinds.map(len) == 2].index)]
    pairs = _pair_rows(whole, problems)
    if "split" in table.columns:
        named = table.split.str.lower().map(SPLIT_NAMES)
        flag(table[named.isna() & (table.split != "")], "split is not train, val or test")
        per_person = table.assign(split=named).dropna(subset=["split"]).groupby(
            "person_id").split.nunique()
        for person in per_person[per_person > 1].index:
            r = table[table.person_id == person].iloc[0]
            problems.append(f"line {r.line} ({r.path}): person {person!r} is in more than "
                            f"one split")
    return pairs, problems


@dataclass(frozen=True)
class CropSpec:
    """How one pair becomes crops: output size, resize kernel, mask box margin."""

    size: tuple[int, int]
    kernel: str
    margin: float


def read_depth_image(path: str) -> np.ndarray:
    """A depth image as uint16: 16-bit values unchanged (mm), 8-bit grey levels 0..255."""
    depth = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if depth is None:
        raise DatasetError(f"cannot decode the depth image {path}")
    if depth.ndim == 3:
        depth = depth[..., 0]
    if depth.dtype not in (np.uint8, np.uint16):
        raise DatasetError(f"{path}: depth of type {depth.dtype}; need 16-bit (mm) or 8-bit")
    return depth.astype(np.uint16)


def read_colour(path: str) -> np.ndarray:
    """An RGB image, (h, w, 3) uint8 in RGB order."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot decode the image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_pair(pair: Pair, spec: CropSpec) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One pair's crops at ``spec.size``: (rgb, depth, mask crop or None)."""
    rgb, depth = read_colour(pair.rgb), read_depth_image(pair.depth)
    if pair.mask is None:
        return resize_rgb(rgb, spec.size, spec.kernel), \
            resize_depth(depth, spec.size, spec.kernel), None
    mask = cv2.imread(pair.mask, cv2.IMREAD_GRAYSCALE)
    if mask is None or mask.shape != depth.shape:
        raise DatasetError(f"{pair.mask}: not a mask of the depth image's size {depth.shape}")
    box = mask_box(mask > 0) or (0, depth.shape[0], 0, depth.shape[1])
    box = pad_box(box, spec.margin, spec.size[0] / spec.size[1], depth.shape)
    scale = np.array(rgb.shape[:2]) / np.array(depth.shape)
    rgb_box = clip_box(tuple(int(round(b * scale[i // 2])) for i, b in enumerate(box)),
                       rgb.shape[:2])
    return (crop_resize(rgb, rgb_box, spec.size),
            crop_resize(depth, box, spec.size, nearest=True),
            crop_resize((mask > 0).astype(np.uint8), box, spec.size, nearest=True))


def _try_crop(pair: Pair, spec: CropSpec) -> tuple | str:
    try:
        return crop_pair(pair, spec)
    except DatasetError as error:
        return str(error)


class ManifestDataset(RealDataset):
    """Any RGB-D data described by one CSV file; folds from it, a splits.json or a seed."""

    name = "manifest"
    Options = ManifestOptions
    obtain = "Write DIR/manifest.csv (see docs/own-data.md)."

    def expected(self) -> str:
        return f"{self.options.manifest} (one row per image; docs/own-data.md)"

    def layout(self, root: Path) -> str:
        if not (root / self.options.manifest).is_file():
            raise DatasetError(f"{root} has no {self.options.manifest}; the {self.name} data "
                               f"set reads {self.expected()}")
        return "manifest"

    def manifest_table(self, root: Path) -> tuple[pd.DataFrame, str, bytes]:
        """(the rows, the file they were read from, its bytes for the cache key)."""
        self.layout(root)
        path = root / self.options.manifest
        return read_table(path), str(path), path.read_bytes()

    @cached_property
    def records(self) -> Records:
        """The checked pairs; DatasetError names every bad row at once."""
        root = self.root()
        table, source, content = self.manifest_table(root)
        pairs, problems = check_table(table, root)
        if problems:
            raise bad_rows(problems, source)
        if pairs.empty:
            raise DatasetError(f"{source} lists no RGB/depth pair")
        # Frames in identity order (stable), so that the same images listed in another
        # row order give the same folds and gallery draws.
        pairs = pairs.iloc[np.argsort(_codes(table.person_id.loc[pairs.rgb]), kind="stable")]
        rgb, depth = table.loc[pairs.rgb.to_numpy()], table.loc[pairs.depth.to_numpy()]
        masks = np.full(len(rgb), "", dtype=object)
        if "mask" in table.columns:  # given on either row of the pair
            own, twin = rgb["mask"].to_numpy(), depth["mask"].to_numpy()
            masks = np.where(own != "", own, twin)
        pids = _codes(rgb.person_id)
        keys = [c for c in self.sequence_columns() if c in table.columns]
        sequences = _codes(rgb[keys].agg("/".join, axis=1)) if keys else np.zeros(len(rgb),
                                                                               np.int64)
        splits: dict[int, str] = {}
        if "split" in table.columns:
            named = table.assign(pid=_codes(table.person_id),
                                 split=table.split.str.lower().map(SPLIT_NAMES)).dropna()
            splits = dict(zip(named.pid.tolist(), named.split.tolist(), strict=True))
        return Records(
            [Pair(str(root / r), str(root / d), str(root / m) if m else None)
             for r, d, m in zip(rgb.path, depth.path, masks, strict=True)],
            pids, sequences, splits, source, hashlib.sha256(content).hexdigest()[:12],
            rgb.reset_index(drop=True), dict(zip(pids.tolist(), rgb.person_id, strict=True)))

    def sequence_columns(self) -> tuple[str, ...]:
        """The columns whose combinations number the frames' ``sequences``."""
        return ("camera", "sequence")

    def passages(self, frames: PairedFrames) -> Passages:
        """Each frame's passage, for the ``tvrid`` protocol: its (person, camera, sequence)
        when the manifest has a ``sequence`` column, else the frame itself; camera name =
        ``camera``, passage name = ``sequence``; path = the RGB image's."""
        rows = self.records.rows.iloc[np.asarray(frames.frames)]
        blank = pd.Series("", index=rows.index)
        cams, names = (rows[c] if c in rows.columns else blank for c in ("camera", "sequence"))
        ids = rows.person_id + "/" + cams + "/" + names if "sequence" in rows.columns \
            else rows.path
        return Passages(ids.to_numpy(str), cams.to_numpy(str), names.to_numpy(str),
                        rows.path.to_numpy(str))

    def identity_names(self) -> dict[int, str]:
        """Identity code -> the manifest's ``person_id`` (what published splits name)."""
        return self.records.names

    def preflight(self) -> None:
        """Read and check every row before any task runs."""
        self.records  # noqa: B018  (the check is the point)

    # -- folds -------------------------------------------------------------------------
    def split_source(self) -> str:
        """The folds' source: the option, or for ``auto`` the first that applies."""
        source = self.options.split_source
        if source != "auto":
            return source
        if self.records.splits:
            return "column"
        return "splits-json" if (self.root() / "splits.json").is_file() else "generate"

    def folds(self, frames: PairedFrames, n_folds: int, seed: int) -> list[Fold]:
        """Folds from the split column, ``splits.json`` or a seed (module docstring)."""
        source = self.split_source()
        if source == "generate":
            return Dataset.folds(self, frames, n_folds, seed)
        if source == "splits-json":
            limit = self.fold_limit()
            if n_folds > limit:
                raise ConfigError(f"{self.name}: {n_folds} folds asked, splits.json and the "
                                  f"splits option give {limit}")
            return folds_of_splits(str(self.root() / "splits.json"), self.json_splits(),
                                   frames.pids, self.options.splits[:n_folds])
        return column_folds(self.records.splits, frames.pids, n_folds, seed, self.name)

    def json_splits(self) -> tuple[dict[str, tuple[int, ...]], ...]:
        """The root's ``splits.json``, its identities named as the ``person_id`` column
        (the file a run writes beside its records reads back unchanged)."""
        codes = {str(published_name(name)): code for code, name in self.records.names.items()}

        def code(name: object) -> int:
            if str(name) not in codes:
                raise ValueError(f"identity {name!r} is no person_id of the manifest")
            return codes[str(name)]

        return read_splits(self.root() / "splits.json", code)

    def fold_limit(self) -> int | None:
        source = self.split_source()
        if source == "splits-json":
            return min(len(self.json_splits()), len(self.options.splits))
        if source == "column" and "val" in self.records.splits.values():
            return 1
        return None

    def split_zero_train(self, frames: PairedFrames, folds: list[Fold]) -> np.ndarray:
        return folds[0].train

    # -- description, verification, cache key --------------------------------------------
    def scan(self, root: Path, layout: str) -> tuple[np.ndarray, Counter, dict[str, Any]]:
        records = self.records
        return records.pids, Counter(), {"manifest": records.source,
                                         "depth_unit": "16-bit PNG: mm; 8-bit: grey level",
                                         "split_source": self.split_source()}

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["folds"] = f"from {self.split_source()} ({self.name}; docs/own-data.md)"
        return info

    def file_pairs(self, root: Path, layout: str) -> list[tuple[str, str]]:
        return [(p.rgb, p.depth) for p in self.records.pairs]

    def cache_key(self, size: tuple[int, int]) -> str:
        """The real data sets' key and the manifest's content, so an edited file rebuilds."""
        return f"{super().cache_key(size)}-{self.records.digest}"

    # -- building ----------------------------------------------------------------------
    def build(self, size: tuple[int, int]) -> PairedFrames:
        """Decode, crop and resize every pair; every undecodable file in one error."""
        records = self.records
        spec = CropSpec(tuple(int(v) for v in size), self.options.resize, self.options.margin)
        n, (h, w) = len(records.pairs), spec.size
        rgb, depth = np.empty((n, h, w, 3), np.uint8), np.empty((n, h, w), np.uint16)
        masked = all(p.mask is not None for p in records.pairs)
        masks = np.zeros((n, h, w), np.uint8) if masked else None
        problems = []
        for i, result in enumerate(parallel_map(partial(_try_crop, spec=spec), records.pairs,
                                                self.options.workers, self.name)):
            if isinstance(result, str):
                problems.append(result)
                continue
            rgb[i], depth[i] = result[0], result[1]
            if masks is not None:
                masks[i] = result[2]
        if problems:
            raise bad_rows(problems, records.source)
        self.finish_report(n, n, Counter(), Counter())
        return PairedFrames(records.pids, records.sequences, np.arange(n, dtype=np.int64),
                            rgb, depth, masks=masks)

    def stored_images(self) -> None:
        """The cached crops are the stored ones (crops are cut at the requested size)."""
        return None


def column_folds(splits: dict[int, str], pids: np.ndarray, n_folds: int, seed: int,
                 name: str) -> list[Fold]:
    """Folds from per-identity split names; without ``val`` identities, fold k draws
    :data:`VAL_SHARE` of the training identities with ``default_rng([seed, k])``."""
    present = np.unique(pids)
    named = {part: np.array(sorted(p for p, s in splits.items() if s == part and p in present),
                            dtype=np.int64) for part in ("train", "val", "test")}
    unnamed = np.setdiff1d(present, list(splits))
    if len(unnamed):
        raise DatasetError(f"{name}: the split column leaves identities {unnamed[:10].tolist()} "
                           f"without a split; name one for every identity")
    if len(named["val"]):
        return [Fold(k, named["train"], named["val"], named["test"]) for k in range(n_folds)]
    train = named["train"]
    n_val = max(1, round(len(train) * VAL_SHARE))
    if len(train) - n_val < 1 or not len(named["test"]):
        raise DatasetError(f"{name}: the split column names {len(train)} training and "
                           f"{len(named['test'])} test identities; need at least 2 and 1")
    folds = []
    for k in range(n_folds):
        val = np.random.default_rng([seed, k]).choice(train, n_val, replace=False)
        folds.append(Fold(k, np.setdiff1d(train, val), np.sort(val), named["test"]))
    return folds

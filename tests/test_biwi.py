"""BIWI RGBD-ID: the raw-archive reader on a genuine frame and on fake trees, and the folds.

The genuine frame (``../shared/datasets/biwi_sample/``: subject 000, Training, frame 000000)
is from BIWI RGBD-ID, licensed CC BY-NC-SA 3.0: M. Munaro, A. Fossati, A. Basso,
E. Menegatti, L. Van Gool, "One-shot person re-identification with a consumer depth
camera", Person Re-Identification, Springer 2014. It is used here as a test fixture only.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmark.datasets.authors_splits import shipped_images, shipped_splits
from benchmark.datasets.base import get_dataset
from benchmark.datasets.biwi_raw import (
    CropSettings,
    crop_frame,
    read_depth,
    scan_raw,
)
from benchmark.datasets.cropping import depth_to_rgb
from methods.core.errors import ConfigError, DatasetError
from methods.core.frames import PairedFrames

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SAMPLE = SHARED / "biwi_sample" / "Training" / "000"
SIZE = (256, 128)
needs_sample = pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"the genuine BIWI frame is not "
                                  f"at {SAMPLE} (CI has it at ../shared)")


@pytest.fixture
def real_tree(tmp_path: Path) -> Path:
    """The genuine frame copied into a raw BIWI tree."""
    if not SAMPLE.is_dir():
        pytest.skip(f"the genuine BIWI frame is not at {SAMPLE} (CI has it at ../shared)")
    target = tmp_path / "Training" / "000"
    shutil.copytree(SAMPLE, target)
    for path in target.iterdir():
        path.chmod(0o644)
    return tmp_path


def files(tree: Path, kind: str) -> Path:
    return next((tree / "Training" / "000").glob(f"*_{kind}"))


# -- the genuine frame ------------------------------------------------------------------
def test_real_frame_depth_is_big_endian_millimetres(real_tree):
    depth = read_depth(str(files(real_tree, "depth.pgm")))
    users = cv2.imread(str(files(real_tree, "userMap.pgm")), cv2.IMREAD_UNCHANGED)
    assert depth.shape == (480, 640) and depth.dtype == np.uint16
    person = depth[(users > 0) & (depth > 0)]
    assert 3050 <= np.median(person) <= 3180  # about 3.1 m


def test_real_frame_crops_the_person_in_both_modalities(real_tree):
    frame = scan_raw(real_tree).frames[0]
    out = crop_frame(frame, CropSettings(SIZE, 2000, 0.05, False))
    assert out.reason is None and out.source == "usermap"
    assert 3050 <= out.person_median_mm <= 3180
    for box, (h, w) in ((out.depth_box, (480, 640)), (out.rgb_box, (960, 1280))):
        top, bottom, left, right = box
        assert 0 <= top < bottom <= h and 0 <= left < right <= w
        assert bottom - top > 1.5 * (right - left)  # a standing person
        assert bottom - top > 0.5 * h  # 3 m away, the person fills most of the height
    # the RGB box is the depth box through the calibration (RGB has ~1.82x the pixels)
    d_top, d_bottom, d_left, d_right = out.depth_box
    r_top, r_bottom, r_left, r_right = out.rgb_box
    assert (r_bottom - r_top) / (d_bottom - d_top) == pytest.approx(1050 / 575.8, rel=0.05)
    u, v = depth_to_rgb(np.array([(d_left + d_right) / 2]), np.array([(d_top + d_bottom) / 2]),
                        np.array([out.person_median_mm]))
    assert abs(u[0] - (r_left + r_right) / 2) < 15 and abs(v[0] - (r_top + r_bottom) / 2) < 15
    # the crops show the person: near depth in the middle column, background at the sides
    centre = out.depth[60:200, 56:72]
    assert 2900 <= np.median(centre[centre > 0]) <= 3300
    assert out.rgb.shape == (*SIZE, 3) and out.depth.shape == SIZE


def test_real_frame_through_the_dataset(real_tree):
    dataset = get_dataset("biwi", root=str(real_tree), workers=1)
    frames = dataset.build(SIZE)
    assert isinstance(frames, PairedFrames) and len(frames) == 1
    assert frames.pids.tolist() == [0] and frames.sequences.tolist() == [0]
    assert frames.rgb.shape == (1, *SIZE, 3) and frames.depth.dtype == np.uint16
    info = dataset.describe()
    assert info["identities"] == 1 and info["frames"] == 1 and info["skipped"] == {}
    assert info["root"] == str(real_tree.resolve()) and info["layout"] == "raw"


def test_real_frame_skeleton_fallback_gives_a_similar_box(real_tree):
    usermap = files(real_tree, "userMap.pgm")
    header = b"P5 640 480 255\n"
    usermap.write_bytes(header + bytes(640 * 480))
    frame = scan_raw(real_tree).frames[0]
    out = crop_frame(frame, CropSettings(SIZE, 2000, 0.05, False))
    assert out.reason is None and out.source == "skeleton"
    assert 3000 <= out.person_median_mm <= 3300
    top, bottom, left, right = out.rgb_box
    assert 100 <= top <= 200 and 740 <= bottom <= 830 and bottom - top > 1.5 * (right - left)


def test_empty_user_map_and_no_skeleton(real_tree):
    files(real_tree, "userMap.pgm").write_bytes(b"P5 640 480 255\n" + bytes(640 * 480))
    files(real_tree, "skel.txt").unlink()
    frame = scan_raw(real_tree).frames[0]
    assert crop_frame(frame, CropSettings(SIZE, 2000, 0.05, False)).reason == "no_person"
    with pytest.raises(DatasetError, match="empty user map and no tracked skeleton"):
        get_dataset("biwi", root=str(real_tree), strict=True, workers=1).build(SIZE)


def test_little_endian_depth_is_an_error_naming_the_file(real_tree):
    path = files(real_tree, "depth.pgm")
    data = path.read_bytes()
    pixels = np.frombuffer(data[-640 * 480 * 2:], dtype=">u2")
    path.write_bytes(data[:-640 * 480 * 2] + pixels.astype("<u2").tobytes())
    with pytest.raises(DatasetError, match=r"depth\.pgm.*little-endian"):
        get_dataset("biwi", root=str(real_tree), workers=1).build(SIZE)


def test_truncated_depth_is_an_error_naming_the_file(real_tree):
    path = files(real_tree, "depth.pgm")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(DatasetError, match=r"depth\.pgm: PGM header says 640x480"):
        get_dataset("biwi", root=str(real_tree), workers=1).build(SIZE)


def test_unreadable_rgb_is_an_error_naming_the_file(real_tree):
    files(real_tree, "rgb.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match=r"cannot decode the image .*rgb\.jpg \(10 bytes\)"):
        get_dataset("biwi", root=str(real_tree), workers=1).build(SIZE)


# -- fake raw trees ------------------------------------------------------------------------
def write_frame(folder: Path, subject: int, frame: int, z_mm: int, colour: tuple[int, ...],
                *, rgb: bool = True, depth: bool = True) -> None:
    """A synthetic BIWI frame: a 60x200 px person at ``z_mm`` on a far wall."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{subject:03d}_{frame:06d}"
    d = np.full((480, 640), 6000, dtype=np.uint16)
    users = np.zeros((480, 640), dtype=np.uint8)
    d[120:320, 290:350], users[120:320, 290:350] = z_mm, 1
    if depth:
        (folder / f"{stem}-b_1_depth.pgm").write_bytes(b"P5\n# fake\n640 480\n65535\n"
                                                       + d.astype(">u2").tobytes())
    (folder / f"{stem}-c_1_userMap.pgm").write_bytes(b"P5 640 480 255\n" + users.tobytes())
    if rgb:
        image = np.full((960, 1280, 3), 40, dtype=np.uint8)
        v, u = np.mgrid[120:320, 290:350]
        ur, vr = depth_to_rgb(u, v, np.full(u.shape, z_mm))
        image[int(vr.min()):int(vr.max()), int(ur.min()):int(ur.max())] = colour
        cv2.imwrite(str(folder / f"{stem}-a_1_rgb.jpg"), image[:, :, ::-1])


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    """Subjects 0 and 1 in Training, subject 0 in Still and Walking, subject 4 Training only."""
    plan = [(("Training", "000"), 0, [0, 1, 2]), (("Testing", "Still", "000"), 0, [0, 1]),
            (("Testing", "Walking", "000"), 0, [5]), (("Training", "001"), 1, [0, 3]),
            (("Training", "004"), 4, [7])]
    for parts, subject, frames in plan:
        for frame in frames:
            z = 2000 + 100 * subject + 10 * frame + 300 * len(parts)
            colour = (50 + 20 * frame, 200 - 40 * subject, 30 * len(parts))
            write_frame(tmp_path.joinpath(*parts), subject, frame, z, colour)
    return tmp_path


def test_fake_tree_identities_sequences_and_pairing(fake_tree):
    dataset = get_dataset("biwi", root=str(fake_tree), workers=1)
    frames = dataset.build((64, 32))
    assert len(frames) == 9
    # the authors' instances: subject 0 Training = 0, subject 0 Testing = 1, 1 -> 2, 4 -> 8
    assert frames.pids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 8]
    assert frames.sequences.tolist() == [0, 0, 0, 1, 1, 2, 0, 0, 0]
    assert len(np.unique(frames.frames)) == 9
    for i, key in enumerate(frames.frames):
        subject, sequence, frame = key // 10_000_000, key // 1_000_000 % 10, key % 1_000_000
        parts = 2 if sequence == 0 else 3  # path depth: Training/000 or Testing/Still/000
        z = 2000 + 100 * subject + 10 * frame + 300 * parts
        assert np.median(frames.depth[i][24:40, 12:20]) == z  # depth of this very frame
        colour = frames.rgb[i][24:40, 12:20].reshape(-1, 3).mean(axis=0)
        assert np.allclose(colour, (50 + 20 * frame, 200 - 40 * subject, 30 * parts), atol=12)


def test_fake_tree_parallel_build_is_identical(fake_tree):
    for subject in range(10, 16):
        for frame in range(4):
            write_frame(fake_tree / "Training" / f"{subject:03d}", subject, frame, 2500,
                        (90, 90, 90))
    one = get_dataset("biwi", root=str(fake_tree), workers=1).build((32, 16))
    two = get_dataset("biwi", root=str(fake_tree), workers=2).build((32, 16))
    assert len(one) == 33
    for field in ("pids", "sequences", "frames", "rgb", "depth"):
        assert np.array_equal(getattr(one, field), getattr(two, field))


def test_missing_modality_is_skipped_and_counted(fake_tree):
    write_frame(fake_tree / "Training" / "001", 1, 8, 2500, (1, 2, 3), depth=False)
    write_frame(fake_tree / "Training" / "001", 1, 9, 2500, (1, 2, 3), rgb=False)
    dataset = get_dataset("biwi", root=str(fake_tree), workers=1)
    info = dataset.describe()
    assert info["frames"] == 9 and info["identities"] == 4
    assert info["skipped"] == {"missing_depth": 1, "missing_rgb": 1}
    assert len(dataset.build((32, 16))) == 9
    with pytest.raises(DatasetError, match=r"001_000008-a_1_rgb\.jpg \(missing_depth\)"):
        get_dataset("biwi", root=str(fake_tree), strict=True, workers=1).build((32, 16))


def test_small_person_is_skipped_and_described(fake_tree):
    dataset = get_dataset("biwi", root=str(fake_tree), min_person_pixels=20_000, workers=1)
    with pytest.raises(DatasetError, match="produced no frames|no frame"):
        from benchmark.datasets.base import load_frames
        load_frames(dataset, (32, 16), fake_tree / "cache")
    info = dataset.describe()
    assert info["decoded"] and info["frames"] == 0 and info["skipped"] == {"small_person": 9}


def test_cache_key_ignores_runtime_options(fake_tree):
    a = get_dataset("biwi", root=str(fake_tree), workers=1, strict=True).cache_key(SIZE)
    b = get_dataset("biwi", root=str(fake_tree), workers=4).cache_key(SIZE)
    c = get_dataset("biwi", root=str(fake_tree), margin=0.1).cache_key(SIZE)
    assert a == b != c


# -- roots and options ---------------------------------------------------------------------
def test_missing_root_says_what_to_do():
    with pytest.raises(DatasetError, match="needs its root folder: pass --root"):
        get_dataset("biwi").build(SIZE)


def test_wrong_root_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=f"{tmp_path / 'nowhere'} does not exist"):
        get_dataset("biwi", root=str(tmp_path / "nowhere")).describe()
    (tmp_path / "something").mkdir()
    with pytest.raises(DatasetError, match=r"neither layout of biwi: expected Training/"):
        get_dataset("biwi", root=str(tmp_path)).describe()


def test_bad_options():
    with pytest.raises(ConfigError, match="layout"):
        get_dataset("biwi", layout="zip")
    with pytest.raises(ConfigError, match="min_person_pixels"):
        get_dataset("biwi", min_person_pixels=0)


# -- the authors' splits -----------------------------------------------------------------
def all_identities(n: int) -> PairedFrames:
    pids = np.arange(n, dtype=np.int64)
    return PairedFrames(pids, pids * 0, pids, np.zeros((n, 2, 1, 3), np.uint8),
                        np.zeros((n, 2, 1), np.uint16))


def test_biwi_folds_are_the_authors_splits():
    dataset = get_dataset("biwi")
    folds = dataset.folds(all_identities(78), 3, seed=123)
    splits = shipped_splits("biwi")
    assert len(folds) == 3
    for fold, split in zip(folds, splits, strict=False):
        assert fold.train.tolist() == sorted(split["train"])
        assert fold.val.tolist() == sorted(split["val"])
        assert fold.test.tolist() == sorted(split["query"]) == sorted(split["gallery"])
        assert (len(fold.train), len(fold.val), len(fold.test)) == dataset.split_sizes
    with pytest.raises(ConfigError, match=r"0\.\.4 \(the authors published 5\)"):
        get_dataset("biwi", splits=[0, 5])
    with pytest.raises(ConfigError, match="names 5"):
        dataset.folds(all_identities(78), 6, seed=0)


def test_robotpku_folds_leave_out_the_empty_identity():
    folds = get_dataset("robotpku").folds(all_identities(89), 5, seed=0)
    assert [len(f.test) for f in folds] == [39] * 5 and 89 not in folds[0].test
    assert [(len(f.train), len(f.val)) for f in folds] == [(40, 10)] * 5


@pytest.mark.parametrize(("name", "folder"), [("biwi", "biwi"), ("pku", "pku"),
                                              ("pku", "pku_depth"), ("biwi", "biwi_depth")])
def test_shipped_image_list_equals_the_authors_meta(name, folder):
    path = SHARED / "authors_splits" / folder / "meta.json"
    if not path.is_file():
        pytest.skip(f"the authors' meta.json is not at {path}")
    identities = json.loads(path.read_text())["identities"]
    names = [n for cams in identities for cam in cams for n in cam]
    pids = [p for p, cams in enumerate(identities) for cam in cams for _ in cam]
    images = shipped_images(name)
    assert images.names.tolist() == names and images.pids.tolist() == pids
    shipped = json.loads((SHARED / "authors_splits" / folder / "splits.json").read_text())
    assert [{k: tuple(v) for k, v in s.items()} for s in shipped] == list(shipped_splits(name))

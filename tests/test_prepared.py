"""The prepared (open-reid) layout shared by BIWI and RobotPKU, on fake trees."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmark.datasets.authors_splits import image_name
from benchmark.datasets.base import get_dataset
from methods.core.errors import ConfigError, DatasetError

# (person, camera, index) -> the authors' identity, for BIWI: the person field is the
# subject; its Testing cameras 01/02 form another identity than its Training camera 00.
BIWI_IMAGES = {(0, 0, 0): 0, (0, 0, 1): 0, (0, 1, 0): 1, (0, 2, 0): 1, (1, 0, 0): 2,
               (4, 0, 0): 8}


def code(i: int) -> tuple[tuple[int, int, int], int]:
    """The RGB colour and depth grey that mark image ``i``."""
    return (20 + 5 * i, 220 - 5 * i, 100), 30 + 5 * i


def write_prepared(root: Path, rgb: str, depth: str, names: list[str],
                   shape: tuple[int, int] = (128, 64)) -> None:
    for folder in (rgb, depth):
        (root / folder / "images").mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        colour, grey = code(i)
        cv2.imwrite(str(root / rgb / "images" / name),
                    np.full((*shape, 3), colour[::-1], dtype=np.uint8))
        cv2.imwrite(str(root / depth / "images" / name), np.full(shape, grey, dtype=np.uint8))


@pytest.fixture
def biwi_tree(tmp_path: Path) -> Path:
    write_prepared(tmp_path, "biwi", "biwi_depth", [image_name(*k) for k in BIWI_IMAGES])
    return tmp_path


def test_biwi_prepared_identities_from_the_authors_list(biwi_tree):
    dataset = get_dataset("biwi", root=str(biwi_tree), workers=1)
    frames = dataset.build((32, 16))
    assert frames.pids.tolist() == list(BIWI_IMAGES.values())
    assert frames.sequences.tolist() == [k[1] for k in BIWI_IMAGES]
    assert frames.frames.tolist() == [p * 1_000_000 + c * 10_000 + i for p, c, i in BIWI_IMAGES]
    assert frames.rgb.shape == (6, 32, 16, 3) and frames.depth.dtype == np.uint16
    for i in range(6):  # pairing: the RGB colour and the depth grey of the same name
        colour, grey = code(i)
        assert np.allclose(frames.rgb[i].reshape(-1, 3).mean(0), colour, atol=3)
        assert abs(int(np.median(frames.depth[i])) - grey) <= 2  # 8-bit value kept as-is
    info = dataset.describe()
    assert info["layout"] == "prepared" and info["identities"] == 4 and info["frames"] == 6
    assert info["skipped"] == {} and "shipped" in info["meta"]


def test_unpaired_and_unlisted_images_are_skipped_and_counted(biwi_tree):
    (biwi_tree / "biwi_depth" / "images" / image_name(0, 0, 1)).unlink()
    (biwi_tree / "biwi" / "images" / image_name(1, 0, 0)).unlink()
    write_prepared(biwi_tree, "biwi", "biwi_depth", [image_name(0, 0, 9999)])  # not listed
    dataset = get_dataset("biwi", root=str(biwi_tree), workers=1)
    frames = dataset.build((32, 16))
    assert len(frames) == 4 and dataset.report["kept"] == 4
    assert dataset.describe()["skipped"] == {"missing_depth": 1, "missing_rgb": 1,
                                             "not_in_meta": 1}
    with pytest.raises(DatasetError, match=r"00000000_00_0001\.jpg \(missing_depth\)"):
        get_dataset("biwi", root=str(biwi_tree), strict=True).build((32, 16))


def test_the_folders_own_meta_json_is_used(biwi_tree):
    meta = {"name": "mine", "identities": [[[image_name(0, 0, 0), image_name(0, 0, 1)]],
                                           [[image_name(4, 0, 0)]]]}
    for folder in ("biwi", "biwi_depth"):
        (biwi_tree / folder / "meta.json").write_text(json.dumps(meta))
    dataset = get_dataset("biwi", root=str(biwi_tree), workers=1)
    frames = dataset.build((32, 16))
    assert frames.pids.tolist() == [0, 0, 1]
    assert dataset.describe()["skipped"] == {"not_in_meta": 3}
    meta["identities"].reverse()
    (biwi_tree / "biwi_depth" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(DatasetError, match="list different images"):
        dataset.build((32, 16))


def test_unreadable_image_names_the_file(biwi_tree):
    bad = biwi_tree / "biwi_depth" / "images" / image_name(0, 1, 0)
    bad.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=rf"{bad} \(7 bytes\)"):
        get_dataset("biwi", root=str(biwi_tree), workers=1).build((32, 16))


def test_missing_depth_folder(tmp_path):
    (tmp_path / "biwi" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match="biwi_depth/images does not exist"):
        get_dataset("biwi", root=str(tmp_path)).build((32, 16))


def test_robotpku_prepared_and_parallel(tmp_path):
    names = [image_name(p, c, i) for p in range(3) for c in range(2) for i in range(6)]
    write_prepared(tmp_path, "pku", "pku_depth", names, shape=(40, 20))
    one = get_dataset("robotpku", root=str(tmp_path), workers=1).build((24, 12))
    two = get_dataset("robotpku", root=str(tmp_path), workers=2).build((24, 12))
    assert len(one) == 36 and one.pids.tolist() == [p for p in range(3) for _ in range(12)]
    for field in ("pids", "sequences", "frames", "rgb", "depth"):
        assert np.array_equal(getattr(one, field), getattr(two, field))
    info = get_dataset("robotpku", root=str(tmp_path)).describe()
    assert info["identities"] == 3 and info["frames"] == 36 and info["root"] == str(tmp_path)


def test_robotpku_refuses_anything_but_the_prepared_layout(tmp_path):
    (tmp_path / "Training").mkdir()
    with pytest.raises(DatasetError, match="RobotPKU is read only through the prepared layout"):
        get_dataset("robotpku", root=str(tmp_path)).build((24, 12))
    with pytest.raises(ConfigError, match="prepared layout"):
        get_dataset("robotpku", layout="raw")


@pytest.mark.parametrize("name, authors", [("biwi", "biwi"), ("robotpku", "pku")])
def test_splits_option_picks_the_published_splits_in_order(name, authors, tmp_path):
    from benchmark.datasets.authors_splits import shipped_splits
    from methods.core.frames import PairedFrames

    published = shipped_splits(authors)
    every = sorted({p for split in published for ids in split.values() for p in ids})
    pids = np.array(every, dtype=np.int64)
    frames = PairedFrames(pids=pids, sequences=np.zeros_like(pids), frames=pids.copy(),
                          rgb=np.zeros((len(pids), 2, 1, 3), np.uint8),
                          depth=np.zeros((len(pids), 2, 1), np.uint16))
    dataset = get_dataset(name, root=str(tmp_path), splits=[3, 1])
    folds = dataset.folds(frames, 2, seed=0)
    for fold, number in zip(folds, (3, 1), strict=True):
        assert fold.train.tolist() == sorted(published[number]["train"])
        assert fold.val.tolist() == sorted(published[number]["val"])
    assert dataset.fold_limit() == 2
    assert published[3]["train"] != published[0]["train"]
    assert dataset.split_zero_train(frames, folds).tolist() == sorted(published[0]["train"])
    assert get_dataset(name, root=str(tmp_path)).fold_limit() == 5

"""The manifest data set: the synthetic set exported into it runs to the same records, and
every bad row is named with its line before any task runs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pandas as pd
import pytest
from cli_helpers import assert_one_error_line, rgbd_inline
from conftest import toy_frames
from dataset_exports import SMALL_SMOKE_ARGS, small_smoke_synthetic, write_manifest

from benchmark.datasets.base import get_dataset, load_frames
from benchmark.reports.published_splits import write_splits
from methods.core.errors import DatasetError

SMOKE = ["run", "--profile", "smoke", "--methods", "pixels-euclidean,whos-xqda"]


def records(folder):
    """Records by (method, fold)."""
    found = [json.loads(p.read_text()) for p in sorted(folder.rglob("fold*.json"))]
    return {(r["method"], r["fold"]): r for r in found}


def test_synthetic_export_runs_to_the_synthetic_records(tmp_path, capsys):
    """Same crops, folds, draws and metrics through the manifest as read directly."""
    synthetic, size = small_smoke_synthetic()
    write_manifest(synthetic.build(size), tmp_path / "export")
    from_manifest = ["--dataset", "manifest", "--root", str(tmp_path / "export")]
    for name, extra in (("synthetic", SMALL_SMOKE_ARGS), ("manifest", from_manifest)):
        result = rgbd_inline(tmp_path, capsys, *SMOKE, *extra, "--output", f"out-{name}",
                             "--cache", "cache")
        assert result.code == 0, result.err
    direct = records(tmp_path / "out-synthetic" / "records" / "smoke" / "synthetic")
    exported = records(tmp_path / "out-manifest" / "records" / "smoke" / "manifest")
    assert direct.keys() == exported.keys() and len(direct) == 4
    for key, record in direct.items():
        for field in ("results", "examples", "counts"):
            assert exported[key][field] == record[field], (key, field)
        assert exported[key]["config"]["fold"] == record["config"]["fold"]
    published = json.loads((tmp_path / "out-manifest" / "records" / "smoke" / "manifest"
                            / "splits.json").read_text())
    for fold, split in enumerate(published):
        assert {k: split[k] for k in ("train", "val")} == {
            k: direct[("pixels-euclidean", fold)]["config"]["fold"][k] for k in ("train", "val")}
        assert split["query"] == split["gallery"] == \
            direct[("pixels-euclidean", fold)]["config"]["fold"]["test"]


@pytest.fixture
def toy_root(tmp_path):
    """Six identities, two frames each, as a manifest (lines 2..25)."""
    root = tmp_path / "toy"
    write_manifest(toy_frames(identities=6, per_identity=2, size=(16, 8)), root)
    return root


def edit(root, change) -> None:
    """Rewrite the manifest with ``change(table)`` applied (it edits or returns a table)."""
    table = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    changed = change(table)
    (table if changed is None else changed).to_csv(root / "manifest.csv", index=False)


def dry_run(root, tmp_path, capsys):
    return rgbd_inline(tmp_path, capsys, "run", "--profile", "smoke", "--methods",
                       "pixels-euclidean", "--dataset", "manifest", "--root", str(root),
                       "--dry-run")


def test_a_good_manifest_plans(toy_root, tmp_path, capsys):
    assert dry_run(toy_root, tmp_path, capsys).code == 0


def _unreadable_depth(root, table):
    (root / table.loc[5, "path"]).write_bytes(b"not an image")


BAD_ROWS = {
    "missing file": (lambda root, t: (root / t.loc[2, "path"]).unlink(), 4, "missing file"),
    "unknown modality": (lambda root, t: t.loc.__setitem__((6, "modality"), "ir"), 8,
                         "unknown modality 'ir'"),
    "one modality": (lambda root, t: t.drop(index=[21, 23]), 22,
                     "has rgb images only"),
    "duplicate path": (lambda root, t: t.loc.__setitem__((9, "path"), t.loc[7, "path"]), 11,
                       "duplicate path (first on line 9)"),
    "unreadable depth": (_unreadable_depth, 7, "unreadable depth image"),
}


@pytest.mark.parametrize("kind", BAD_ROWS)
def test_each_bad_row_is_named_with_its_line_before_any_task(kind, toy_root, tmp_path, capsys):
    change, line, reason = BAD_ROWS[kind]
    edit(toy_root, lambda table: change(toy_root, table))
    table = pd.read_csv(toy_root / "manifest.csv", dtype=str)
    path = dict(zip(range(2, 2 + len(table)), table.path, strict=True))[line]
    result = dry_run(toy_root, tmp_path, capsys)
    assert_one_error_line(result, "manifest.csv", f"line {line} ({path})", reason)
    assert not (tmp_path / "results").exists()


def test_every_bad_row_in_one_message(toy_root):
    def change(table):
        table.loc[0, "modality"] = "infrared"
        table.loc[4, "path"] = "images/nowhere.png"

    edit(toy_root, change)
    with pytest.raises(DatasetError) as error:
        get_dataset("manifest", root=str(toy_root)).preflight()
    message = str(error.value)
    assert "line 2 " in message and "line 6 " in message and "\n" not in message
    assert "line 3 (images/00000_depth.png): no rgb twin" in message


def test_folds_from_the_split_column_and_from_splits_json(toy_root):
    split = {0: "train", 1: "train", 2: "train", 3: "val", 4: "test", 5: "test"}
    frames = toy_frames(identities=6, per_identity=2, size=(16, 8))
    write_manifest(frames, toy_root, split=[split[int(p)] for p in frames.pids])
    dataset = get_dataset("manifest", root=str(toy_root))
    built = dataset.build((16, 8))
    fold, = dataset.folds(built, 1, seed=0)
    assert (fold.train.tolist(), fold.val.tolist(), fold.test.tolist()) == ([0, 1, 2], [3],
                                                                           [4, 5])
    assert dataset.fold_limit() == 1
    (toy_root / "splits.json").write_text(json.dumps(
        [{"train": [5, 4, 3], "val": [2], "query": [0, 1], "gallery": [0, 1]}]))
    from_json = get_dataset("manifest", root=str(toy_root), split_source="splits-json")
    fold, = from_json.folds(built, 1, seed=0)
    assert (fold.train.tolist(), fold.val.tolist(), fold.test.tolist()) == ([3, 4, 5], [2],
                                                                           [0, 1])


def test_a_mask_crops_both_modalities_around_the_person(toy_root):
    """A mask in the depth pixels: the crop is its padded box, the RGB box scaled to RGB."""
    table = pd.read_csv(toy_root / "manifest.csv", dtype=str)
    depth = np.zeros((40, 20), np.uint16)
    depth[10:30, 5:15] = 1500
    rgb = np.zeros((80, 40, 3), np.uint8)
    rgb[20:60, 10:30] = 200
    mask = (depth > 0).astype(np.uint8) * 255
    for path, image in ((table.path[0], rgb), (table.path[1], depth), ("mask0.png", mask)):
        cv2.imwrite(str(toy_root / path), image)
    table["mask"] = ["mask0.png"] + [""] * (len(table) - 1)
    table.to_csv(toy_root / "manifest.csv", index=False)
    pair = get_dataset("manifest", root=str(toy_root), margin=0.0).records.pairs[0]
    from benchmark.datasets.manifest import CropSpec, crop_pair

    rgb_crop, depth_crop, mask_crop = crop_pair(pair, CropSpec((20, 10), "opencv", 0.0))
    assert (depth_crop == 1500).all() and (mask_crop == 1).all()
    assert (rgb_crop == 200).all()


def test_published_splits_name_the_manifests_people_and_read_back(toy_root, tmp_path):
    """Generated folds of text person ids: splits.json names them, and a manifest that
    reads it (``splits-json``) gets the same folds."""
    edit(toy_root, lambda table: table.assign(person_id="person-" + table.person_id))
    generated = get_dataset("manifest", root=str(toy_root), split_source="generate")
    frames = load_frames(generated, (16, 8), tmp_path / "cache")
    folds = generated.folds(frames, 2, seed=3)
    profile = SimpleNamespace(name="mine", run=SimpleNamespace(
        dataset="manifest", image_size=[16, 8], folds=2, seed=3),
        dataset={"root": str(toy_root), "split_source": "generate"})
    path = write_splits(profile, tmp_path / "out", tmp_path / "cache")
    assert path == tmp_path / "out" / "records" / "mine" / "manifest" / "splits.json"
    published = json.loads(path.read_text())
    names = generated.identity_names()
    assert published[1]["query"] == [names[int(p)] for p in folds[1].test]
    assert all(str(p).startswith("person-") for p in published[0]["trainval"])
    (toy_root / "splits.json").write_text(path.read_text())
    read_back = get_dataset("manifest", root=str(toy_root), split_source="splits-json")
    again = read_back.folds(frames, 2, seed=0)
    assert [f.to_dict() for f in again] == [f.to_dict() for f in folds]


def test_a_splits_json_naming_an_unknown_person_is_an_error(toy_root):
    (toy_root / "splits.json").write_text(json.dumps(
        [{"train": [0, 1, 2], "val": [3], "query": [4, "nobody"], "gallery": [4]}]))
    with pytest.raises(DatasetError, match="'nobody' is no person_id of the manifest"):
        get_dataset("manifest", root=str(toy_root), split_source="splits-json").folds(
            None, 1, seed=0)


def test_passages_of_a_manifest_are_its_person_camera_sequence_groups(toy_root):
    """For the tvrid protocol: without a sequence column each pair is its own passage;
    with one, a passage is a (person, camera, sequence) and its name the sequence."""
    dataset = get_dataset("manifest", root=str(toy_root))
    frames = dataset.build((16, 8))
    alone = dataset.passages(frames)
    assert len(set(alone.ids)) == len(frames)
    edit(toy_root, lambda table: table.assign(sequence=["IN", "IN", "OUT", "OUT"] * 6))
    grouped = get_dataset("manifest", root=str(toy_root))
    passages = grouped.passages(grouped.build((16, 8)))
    table = pd.read_csv(toy_root / "manifest.csv", dtype=str)
    rgb = table[table.modality == "rgb"]
    assert passages.ids.tolist() == (rgb.person_id + "/" + rgb.camera + "/" + rgb.sequence
                                     ).tolist()
    assert passages.names.tolist() == rgb.sequence.tolist()
    assert passages.paths.tolist() == rgb.path.tolist()

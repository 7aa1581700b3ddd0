"""Tests of the synthetic RGB-D person data set."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import binary_erosion

from benchmark.datasets import synthetic as syn
from benchmark.datasets import synthetic_scene as sc
from benchmark.datasets import synthetic_sensor as ss
from benchmark.datasets.base import get_dataset, load_frames
from benchmark.datasets.preview import save_preview
from methods.core.errors import ConfigError

SMALL = {"identities": 6, "frames_per_identity": 4}
FIELDS = ("pids", "sequences", "frames", "rgb", "depth")


@pytest.fixture(scope="module")
def small():
    return syn.generate(syn.SyntheticOptions(**SMALL), (64, 32))


@pytest.fixture(scope="module")
def walker():
    """Body 0 of the default seed walking in room 0, rendered at 128x64."""
    options = syn.SyntheticOptions(identities=2, frames_per_identity=8, sequences=1)
    return syn.instances(options)[0], syn.rooms(options)[0]


def test_same_seed_gives_identical_arrays(small):
    again = syn.generate(syn.SyntheticOptions(**SMALL), (64, 32))
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(small, field), getattr(again, field))


def test_different_seed_gives_different_people(small):
    other = syn.generate(syn.SyntheticOptions(**SMALL, seed=1), (64, 32))
    assert not np.array_equal(small.rgb, other.rgb)
    assert not np.array_equal(small.depth, other.depth)


def test_shapes_dtypes_and_keys(small):
    n_pids = 6 + round(0.25 * 6)
    assert len(small) == n_pids * 4
    assert small.rgb.shape == (n_pids * 4, 64, 32, 3) and small.rgb.dtype == np.uint8
    assert small.depth.shape == (n_pids * 4, 64, 32) and small.depth.dtype == np.uint16
    assert np.array_equal(np.unique(small.pids), np.arange(n_pids))
    assert len(np.unique(small.frames)) == len(small)
    for pid in range(n_pids):
        assert np.bincount(small.sequences[small.pids == pid]).tolist() == [2, 2]


def test_options_set_the_sizes():
    options = syn.SyntheticOptions(identities=3, frames_per_identity=5, sequences=3,
                                   second_outfit_fraction=0.0)
    frames = syn.generate(options, (32, 16))
    assert frames.image_size == (32, 16)
    assert np.bincount(frames.pids).tolist() == [5, 5, 5]
    assert np.bincount(frames.sequences[frames.pids == 0]).tolist() == [2, 2, 1]
    with_second = syn.SyntheticOptions(identities=4, second_outfit_fraction=0.5)
    assert len(syn.instances(with_second)) == 6


def test_depth_is_metric_with_holes_at_the_silhouette(walker):
    instance, room = walker
    views = sc.sample_walk(instance.body, room, 8, np.random.default_rng(3))
    _, depth, _, person = syn.render_views(instance.body, instance.outfit, room, views,
                                           (128, 64), np.random.default_rng(4))
    readings = depth[person & (depth > 0)]
    assert readings.size > 0.7 * person.sum()
    assert 1500 <= readings.min() and readings.max() <= 6000
    rim = person & ~binary_erosion(person, structure=np.ones((1, 3, 3)))
    assert (depth[rim] == 0).mean() > 0.05
    assert (depth[rim] == 0).mean() > 2 * (depth[person & ~rim] == 0).mean()


def test_depth_noise_grows_with_distance():
    assert ss.kinect_sigma(3.0) == pytest.approx(0.01404, abs=1e-5)
    assert ss.kinect_sigma(2.0, np.cos(1.2)) > ss.kinect_sigma(2.0)
    wall = np.concatenate([np.full((4, 32, 32), 2.0), np.full((4, 32, 32), 5.0)])
    measured = ss.kinect_depth(wall.astype(np.float32), np.ones_like(wall, np.float32),
                               np.full(8, 0.01), wall[:, 0, 0], np.random.default_rng(0))
    near, far = measured[:4].astype(float), measured[4:].astype(float)
    assert abs(near.mean() - 2000) < 10 and abs(far.mean() - 5000) < 40
    assert far.std() > 4 * near.std()
    # quantised disparity: about 11 mm steps at 2 m, 72 mm at 5 m
    assert np.diff(np.unique(near)).min() == pytest.approx(11.5, abs=1.5)
    assert np.diff(np.unique(far)).min() == pytest.approx(70, abs=5)


def test_second_outfit_shares_the_body_not_the_clothes(walker):
    options = syn.SyntheticOptions(identities=4, second_outfit_fraction=0.5)
    people = syn.instances(options)
    room = syn.rooms(options)[0]
    for second in people[4:]:
        first = people[second.body_index]
        assert second.body == first.body and second.outfit != first.outfit
        assert np.linalg.norm(np.subtract(second.outfit.top, first.outfit.top)) > 0.35
        views = sc.sample_walk(first.body, room, 6, np.random.default_rng(7))
        a = syn.render_views(first.body, first.outfit, room, views, (128, 64),
                             np.random.default_rng(8))
        b = syn.render_views(second.body, second.outfit, room, views, (128, 64),
                             np.random.default_rng(8))
        for mask_a, mask_b in zip(a[2], b[2], strict=True):
            rows_a, rows_b = np.flatnonzero(mask_a.any(1)), np.flatnonzero(mask_b.any(1))
            assert rows_a[-1] == rows_b[-1]
            if not (first.outfit.hat or second.outfit.hat):
                assert rows_a[0] == rows_b[0]
        both = a[2] & b[2]
        difference = np.abs(a[0].astype(int) - b[0].astype(int)).sum(-1)
        assert difference[both].mean() > 30
    dataset = get_dataset("synthetic", identities=4, second_outfit_fraction=0.5)
    assert dataset.body_of_pid().tolist()[:4] == [0, 1, 2, 3]
    assert len(set(dataset.body_of_pid().tolist())) == 4


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a & b).sum((1, 2)) / np.maximum((a | b).sum((1, 2)), 1)


def test_rgb_and_depth_coincide_unless_offset(walker):
    instance, room = walker
    rooms = [room]
    synced = syn.record(instance, rooms, syn.SyntheticOptions(identities=1, sequences=1,
                                                              frames_per_identity=8),
                        (64, 32))
    lagged = syn.record(instance, rooms, syn.SyntheticOptions(identities=1, sequences=1,
                                                              frames_per_identity=8,
                                                              time_offset=0.2), (64, 32))
    assert _iou(synced.rgb_mask, synced.depth_mask).min() == 1.0
    assert np.array_equal(synced.rgb_mask, lagged.rgb_mask)
    assert _iou(lagged.rgb_mask, lagged.depth_mask).mean() < 0.85


def test_registry_and_memory_mapped_cache(tmp_path, monkeypatch):
    dataset = get_dataset("synthetic", identities=8, frames_per_identity=4)
    first = load_frames(dataset, (64, 32), tmp_path)
    assert len(first) == (8 + 2) * 4 and first.image_size == (64, 32)

    def no_build(size):
        raise AssertionError("the second load should come from the cache")

    monkeypatch.setattr(dataset, "build", no_build)
    second = load_frames(dataset, (64, 32), tmp_path)
    assert isinstance(second.rgb, np.memmap) and isinstance(second.depth, np.memmap)
    np.testing.assert_array_equal(first.depth, second.depth)
    folds = dataset.folds(second, n_folds=2, seed=0)
    assert sum(len(part) for part in (folds[0].train, folds[0].val, folds[0].test)) == 10


@pytest.mark.parametrize("options", [
    {"colour": 1}, {"identities": 0}, {"identities": 2.5}, {"second_outfit_fraction": 1.5},
    {"background": "beach"}, {"frames_per_identity": 1, "sequences": 2},
    {"time_offset": -0.1},
])
def test_bad_options_raise_config_error(options):
    with pytest.raises(ConfigError):
        get_dataset("synthetic", **options)


def test_background_none_leaves_no_depth_off_the_person(walker):
    instance, _ = walker
    options = syn.SyntheticOptions(identities=1, sequences=1, frames_per_identity=4,
                                   background="none")
    recording = syn.record(instance, syn.rooms(options), options, (64, 32))
    assert (recording.depth[~recording.depth_mask] == 0).all()
    assert (recording.depth[recording.depth_mask] > 0).mean() > 0.6


def test_preview_writes_a_png(small, tmp_path):
    path = save_preview(small, tmp_path / "preview.png", identities=3, per_identity=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _person_masks(outfit_changes: dict) -> tuple[np.ndarray, np.ndarray]:
    """Person masks (F, h, w) of one body in a plain outfit and in the changed outfit."""
    import dataclasses

    options = syn.SyntheticOptions(identities=1)
    person = syn.instances(options)[0]
    plain = dataclasses.replace(person.outfit, bulk=1.0, skirt=0.0, hat=False, bag="none")
    changed = dataclasses.replace(plain, **outfit_changes)
    room = syn.rooms(options)[0]
    views = sc.sample_walk(person.body, room, 4, np.random.default_rng(3))
    masks = [syn.render_views(person.body, outfit, room, views, (128, 64),
                              np.random.default_rng(4))[3] for outfit in (plain, changed)]
    return masks[0], masks[1]


def test_garment_shape_is_seen_by_depth():
    """Bulky clothes widen the torso, a hat raises the head, a skirt fills the legs' gap."""
    plain, bulky = _person_masks({"bulk": 1.3})
    torso = slice(30, 60)
    assert (bulky[:, torso].sum() > 1.1 * plain[:, torso].sum())
    assert (bulky & ~plain).any() and not (plain & ~bulky).any()
    plain, hatted = _person_masks({"hat": True})
    for p, h in zip(plain, hatted, strict=True):
        assert np.flatnonzero(h.any(1))[0] < np.flatnonzero(p.any(1))[0]
    plain, skirted = _person_masks({"skirt": 0.3})
    knees = slice(70, 95)
    assert skirted[:, knees].sum() > plain[:, knees].sum()


def test_uniform_clothing_leaves_only_the_body():
    people = syn.instances(syn.SyntheticOptions(identities=5, clothing="uniform",
                                                second_outfit_fraction=0.4))
    assert len({p.outfit for p in people}) == 1
    assert len({p.body for p in people}) == 5
    varied = syn.instances(syn.SyntheticOptions(identities=5))
    assert len({p.outfit for p in varied}) == len(varied)
    with pytest.raises(ConfigError, match="clothing"):
        syn.SyntheticOptions(clothing="random")

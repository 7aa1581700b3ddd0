"""The handcrafted methods with a stand-in extractor: registry, metrics, cache, frame cap."""

import numpy as np
import pytest

from methods.core.context import TaskContext
from methods.core.errors import ConfigError
from methods.core.feature_store import FeatureStore, image_keys
from methods.core.frames import PairedFrames
from methods.core.matcher import CROSS_MODAL
from methods.core.registry import get_method
from methods.handcrafted.cross_view import cap_frames
from methods.handcrafted.image_features import Lomo, Whos, resize

NAMES = ("whos-euclidean", "whos-xqda", "lomo-euclidean", "lomo-xqda")
SIZE = (16, 8)


class CountingExtractor:
    """Row profile of the grey image: where an identity's band lies, in either modality."""

    def __init__(self):
        self.images = 0
        self.options = []

    def __call__(self, images, **options):
        assert images.dtype == np.uint8 and images.shape[1:] == (*SIZE, 3)
        self.images += len(images)
        self.options.append(options)
        return images.astype(np.float64).mean(axis=(2, 3))


@pytest.fixture
def extractor(monkeypatch):
    fake = CountingExtractor()
    for cls in (Whos, Lomo):
        monkeypatch.setattr(cls, "load_extractor", staticmethod(lambda: fake))
    return fake


def make_frames(n_ids=6, per_id=8, seed=0, first_frame=0):
    """Identity k wears a band at rows 4k..4k+7: bright in RGB, near in depth."""
    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(n_ids), per_id)
    n = len(pids)
    rgb = rng.integers(40, 80, size=(n, 32, 16, 3))
    depth = rng.integers(2900, 3100, size=(n, 32, 16))
    for i, pid in enumerate(pids):
        rgb[i, 4 * pid:4 * pid + 8] += 150
        depth[i, 4 * pid:4 * pid + 8] -= 1000
    return PairedFrames(pids, np.zeros(n, dtype=np.int64), first_frame + np.arange(n),
                        rgb.astype(np.uint8), depth.astype(np.uint16))


def make(name, tmp_path, fold=0, seed=0, **options):
    context = TaskContext(artifact_root=tmp_path, dataset_key="toy", fold=fold, seed=seed,
                          quiet=True)
    return get_method(name)(context, feature_size=SIZE, **options)


def test_registry_finds_the_four_methods():
    for name in NAMES:
        cls = get_method(name)
        assert cls.name == name
        assert cls.summary and "\n" not in cls.summary
        assert cls.settings == CROSS_MODAL
        assert cls.option_group == "handcrafted"
        assert (cls.feature_class.name, cls.metric_class.name) == tuple(name.split("-"))


@pytest.mark.parametrize("name", ["lomo-xqda", "whos-xqda"])
def test_xqda_ranks_the_right_identity_first(name, tmp_path, extractor):
    train, test = make_frames(seed=0), make_frames(per_id=3, seed=1, first_frame=100)
    matcher = make(name, tmp_path).fit(train, make_frames(n_ids=2, seed=2))
    rgb, depth = matcher.embed(test.rgb, "rgb"), matcher.embed(test.depth, "depth")
    assert rgb.shape == (len(test), matcher.metric.model_.n_components_)

    rgb_to_depth = matcher.distance(rgb, depth)
    depth_to_rgb = matcher.distance(depth, rgb)
    assert rgb_to_depth.shape == (len(test), len(test))
    np.testing.assert_array_equal(test.pids[rgb_to_depth.argmin(1)], test.pids)
    np.testing.assert_array_equal(test.pids[depth_to_rgb.argmin(1)], test.pids)
    np.testing.assert_allclose(depth_to_rgb, rgb_to_depth.T, rtol=1e-9,
                               atol=1e-9 * np.abs(rgb_to_depth).max())


def test_euclidean_needs_no_training_and_embeds_raw_features(tmp_path, extractor):
    matcher = make("whos-euclidean", tmp_path).fit(make_frames(), make_frames(n_ids=2))
    assert extractor.images == 0
    test = make_frames(per_id=2, seed=3)
    rgb = matcher.embed(test.rgb, "rgb")
    expected = extractor(resize(test.rgb, SIZE)).astype(np.float32)
    np.testing.assert_array_equal(rgb, expected)
    assert matcher.distance(rgb, matcher.embed(test.depth, "depth")).shape == (12, 12)
    assert extractor.options[0] == {}


def test_lomo_receives_its_options(tmp_path, extractor):
    make("lomo-euclidean", tmp_path, retinex=False).embed(make_frames().rgb[:2], "rgb")
    assert extractor.options == [{"retinex": False}]


def test_features_are_shared_by_folds_and_metrics(tmp_path, extractor):
    train, test = make_frames(seed=0), make_frames(per_id=3, seed=1, first_frame=100)
    first = make("lomo-xqda", tmp_path, max_frames_per_identity=None).fit(train, train)
    for modality in ("rgb", "depth"):
        first.embed(test.images(modality), modality)
    computed = extractor.images
    assert computed == 2 * (len(train) + len(test))

    second = make("lomo-euclidean", tmp_path, fold=1, seed=7)
    for modality in ("rgb", "depth"):
        second.embed(train.images(modality), modality)
        second.embed(test.images(modality), modality)
    again = make("lomo-xqda", tmp_path, fold=2, seed=7, max_frames_per_identity=None)
    again.fit(train, train)
    assert extractor.images == computed

    make("whos-euclidean", tmp_path).embed(test.rgb, "rgb")
    make("lomo-euclidean", tmp_path, depth_encoding="colormap").embed(test.rgb, "rgb")
    assert extractor.images == computed + len(test)
    make("lomo-euclidean", tmp_path, depth_encoding="colormap").embed(test.depth, "depth")
    assert extractor.images == computed + 2 * len(test)


def test_frame_cap_is_seeded_and_respected(tmp_path, extractor):
    train = make_frames(n_ids=6, per_id=8)
    matcher = make("lomo-xqda", tmp_path, max_frames_per_identity=3).fit(train, train)
    for modality, rows in matcher.training_rows.items():
        assert np.all(np.bincount(train.pids[rows]) == 3), modality
        assert len(np.unique(rows)) == len(rows)
    assert extractor.images == 2 * 6 * 3

    same = make("lomo-xqda", tmp_path, fold=1, max_frames_per_identity=3).fit(train, train)
    other = make("lomo-xqda", tmp_path, seed=1, max_frames_per_identity=3).fit(train, train)
    for modality in ("rgb", "depth"):
        np.testing.assert_array_equal(same.training_rows[modality],
                                      matcher.training_rows[modality])
        assert not np.array_equal(other.training_rows[modality],
                                  matcher.training_rows[modality])

    everything = make("lomo-xqda", tmp_path, max_frames_per_identity=None).fit(train, train)
    np.testing.assert_array_equal(everything.training_rows["rgb"], np.arange(len(train)))


def test_cap_frames_keeps_small_identities_whole():
    pids = np.array([0, 0, 0, 0, 1, 2, 2])
    rows = cap_frames(pids, 2, np.random.default_rng(0))
    assert np.bincount(pids[rows]).tolist() == [2, 1, 2]
    assert np.all(np.diff(rows) > 0)


def test_xqda_before_fit_is_an_error(tmp_path, extractor):
    with pytest.raises(ValueError, match="not fitted"):
        make("lomo-xqda", tmp_path).embed(make_frames().rgb, "rgb")


@pytest.mark.parametrize("options, message", [
    ({"bogus": 1}, "unknown option"),
    ({"feature_size": (128,)}, "feature_size"),
    ({"depth_encoding": "hha"}, "depth_encoding"),
    ({"lam": -1.0}, "lam"),
    ({"max_frames_per_identity": 0}, "max_frames_per_identity"),
    ({"retinex": "yes"}, "retinex"),
])
def test_bad_options_raise_config_error(options, message):
    with pytest.raises(ConfigError, match=message):
        get_method("lomo-xqda")(None, **options)


def test_options_accept_a_list_for_the_size(tmp_path):
    matcher = get_method("whos-xqda")(None, feature_size=[64, 24])
    assert matcher.options.feature_size == (64, 24)
    assert matcher.config()["max_frames_per_identity"] == 30


def test_unknown_modality(tmp_path, extractor):
    with pytest.raises(ValueError, match="modality"):
        make("lomo-euclidean", tmp_path).embed(make_frames().rgb, "infrared")


def test_feature_store_writes_atomically_and_deduplicates(tmp_path):
    calls = []

    def compute(batch):
        calls.append(len(batch))
        return batch.reshape(len(batch), -1).astype(np.float64)

    images = np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2)
    images = np.concatenate([images, images[:2]])
    store = FeatureStore(tmp_path / "store")
    out = store.get(images, compute, batch_size=2)
    np.testing.assert_array_equal(out, images.reshape(7, -1))
    assert calls == [2, 2, 1] and len(store) == 5
    assert not list((tmp_path / "store").glob(".tmp-*"))

    reopened = FeatureStore(tmp_path / "store")
    np.testing.assert_array_equal(reopened.get(images[::-1], compute), out[::-1])
    assert calls == [2, 2, 1]
    assert image_keys(images[:1], "rgb")[0] != image_keys(images[:1], "depth")[0]

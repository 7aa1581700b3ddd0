"""Identity folds, the crop cache and profile validation."""

import numpy as np
import pytest

from benchmark.datasets.base import get_dataset, load_frames
from benchmark.evaluation.splits import proportional_sizes, random_folds
from benchmark.runs.config import load_profile, parse_override
from methods.core.errors import ConfigError, DatasetError


@pytest.mark.parametrize("sizes", [(32, 8, 38), (40, 10, 40), (3, 1, 2)])
def test_random_folds_sizes_disjoint_and_deterministic(sizes):
    pids = np.repeat(np.arange(sum(sizes) + 2), 3)
    folds = random_folds(pids, sizes, 3, seed=7)
    again = random_folds(pids, sizes, 3, seed=7)
    other = random_folds(pids, sizes, 3, seed=8)
    for fold, twin in zip(folds, again, strict=True):
        assert tuple(map(len, (fold.train, fold.val, fold.test))) == sizes
        union = np.concatenate([fold.train, fold.val, fold.test])
        assert len(np.unique(union)) == len(union)
        assert all(np.array_equal(getattr(fold, k), getattr(twin, k))
                   for k in ("train", "val", "test"))
    assert any(not np.array_equal(a.test, b.test) for a, b in zip(folds, other, strict=True))
    assert not np.array_equal(folds[0].test, folds[1].test)
    assert np.array_equal(random_folds(pids, sizes, 1, seed=7)[0].test, folds[0].test)


def test_proportional_sizes():
    assert proportional_sizes(78) == (32, 8, 38)
    assert sum(proportional_sizes(60)) == 60
    assert min(proportional_sizes(12)) >= 2
    with pytest.raises(ConfigError):
        proportional_sizes(4)


def test_too_few_identities_is_an_error():
    with pytest.raises(ConfigError, match="need 10 identities"):
        random_folds(np.arange(5), (4, 3, 3), 1, 0)


def test_cache_is_written_once_and_memory_mapped(tmp_path, monkeypatch):
    dataset = get_dataset("toy", identities=6)
    first = load_frames(dataset, (16, 8), tmp_path)
    monkeypatch.setattr(type(dataset), "build", lambda self, size: pytest.fail("rebuilt"))
    second = load_frames(dataset, (16, 8), tmp_path)
    assert isinstance(second.rgb, np.memmap)
    np.testing.assert_array_equal(first.rgb, second.rgb)
    np.testing.assert_array_equal(first.pids, second.pids)


def test_cache_key_depends_on_size_and_options():
    a = get_dataset("toy", identities=6)
    assert a.cache_key((16, 8)) != a.cache_key((32, 16))
    assert a.cache_key((16, 8)) != get_dataset("toy", identities=7).cache_key((16, 8))


def test_corrupt_cache_is_a_clear_error(tmp_path):
    dataset = get_dataset("toy", identities=6)
    load_frames(dataset, (16, 8), tmp_path)
    cached = next(tmp_path.rglob("rgb.npy"))
    cached.write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="delete that folder"):
        load_frames(dataset, (16, 8), tmp_path)


def test_unknown_dataset_and_option():
    with pytest.raises(ConfigError, match="unknown data set 'nope'"):
        get_dataset("nope")
    with pytest.raises(ConfigError, match="unknown option"):
        get_dataset("toy", bogus=1)


def test_profiles_load_and_validate(tmp_path):
    for name in ("smoke", "quick", "paper"):
        profile = load_profile(name)
        assert profile.run.folds >= 1 and profile.run.methods
    bad = tmp_path / "bad.toml"
    bad.write_text("[run]\nfolds = 0\n")
    with pytest.raises(ConfigError, match="bad.toml.*folds"):
        load_profile(str(bad))
    bad.write_text("[runn]\n")
    with pytest.raises(ConfigError, match="unknown section"):
        load_profile(str(bad))


def test_extends_merges_tables_and_replaces_values(tmp_path):
    base = tmp_path / "base.toml"
    base.write_text('[run]\nfolds = 2\ntrials = 4\nmethods = ["a", "b"]\n'
                    "[options.deep]\nepochs = 3\nheight = 8\n")
    child = tmp_path / "sub" / "child.toml"
    child.parent.mkdir()
    child.write_text('extends = "../base.toml"\n[run]\nmethods = ["c"]\ntrials = 7\n'
                     "[options.deep]\nepochs = 9\n")
    profile = load_profile(str(child))
    assert profile.name == "child"
    assert (profile.run.folds, profile.run.trials, profile.run.methods) == (2, 7, ["c"])
    assert profile.options["deep"] == {"epochs": 9, "height": 8}
    assert load_profile(str(child), ["options.deep.height=5"]).options["deep"]["height"] == 5
    base.write_text('extends = "sub/child.toml"\n')
    with pytest.raises(ConfigError, match="cycle"):
        load_profile(str(child))


def test_ablation_profile_has_the_quick_data_and_trainable_trunks():
    ablation, quick = load_profile("ablation"), load_profile("quick")
    assert ablation.name == "ablation"
    assert ablation.dataset == quick.dataset
    assert (ablation.run.folds, ablation.run.trials, ablation.run.image_size) == \
        (quick.run.folds, quick.run.trials, quick.run.image_size)
    assert ablation.run.methods != quick.run.methods
    # a freeze point inside a fixed trunk would change nothing: the ablation trains it
    assert quick.options["deep"]["network"]["train_from"] == "head"
    assert ablation.options["deep"]["network"]["train_from"] == "stem"
    assert not ablation.options["deep"]["compute"]["cache_fixed_stages"]


def test_override_parsing():
    assert parse_override("run.folds=2") == (["run", "folds"], 2)
    assert parse_override("options.deep.backbone=resnet18") == (
        ["options", "deep", "backbone"], "resnet18")
    assert parse_override('run.methods=["a", "b"]') == (["run", "methods"], ["a", "b"])
    with pytest.raises(ConfigError):
        parse_override("folds")


def test_method_options_merge_groups_then_method(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[options.deep]\na = 1\nb = 1\n[options.distillation]\nb = 2\nc = 2\n"
                    "[options.my-method]\nc = 3\n")
    profile = load_profile(str(path))
    assert profile.method_options("my-method", ("deep", "distillation")) == {
        "a": 1, "b": 2, "c": 3}
    assert profile.method_options("other", "deep") == {"a": 1, "b": 1}
    assert profile.method_options("other", None) == {}


def test_method_options_merge_sections_field_by_field(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text("[options.deep.network]\narch = \"resnet10\"\nheight = 8\n"
                    "[options.distillation.network]\nheight = 16\n"
                    "[options.distillation.step2]\nlr = 0.5\n")
    profile = load_profile(str(path), ["options.deep.network.width=4"])
    assert profile.method_options("d", ("deep", "distillation")) == {
        "network": {"arch": "resnet10", "height": 16, "width": 4}, "step2": {"lr": 0.5}}

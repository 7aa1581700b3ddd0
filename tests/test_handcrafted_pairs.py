"""Handcrafted methods as (feature, metric) pairs: which pairs exist, their options, and
features and metrics added by installed plugins through their entry-point groups (the
the manual's examples, installed as plugins)."""

import dataclasses
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from methods.core import registry
from methods.core.context import TaskContext
from methods.core.errors import ConfigError
from methods.core.fingerprint import code_digest
from methods.core.matcher import CROSS_MODAL, DEPTH_ONLY
from methods.core.registry import available_methods, broken_plugins, get_method
from methods.handcrafted.cca import Cca, CcaOptions
from methods.handcrafted.cross_view import METRICS, Euclidean
from methods.handcrafted.eigen_depth import EigenDepth, EigenDepthOptions
from methods.handcrafted.features import FEATURES, Feature
from methods.handcrafted.image_features import Lomo, LomoOptions, Whos
from methods.handcrafted.pairs import handcrafted_method, pair_options, pair_settings
from methods.handcrafted.xqda import Xqda, XqdaOptions

MANUAL = Path(__file__).resolve().parents[1] / "docs" / "adding-a-method.md"


def manual_examples() -> list[str]:
    """The Python blocks of the manual's section on features and metrics, in order."""
    text = MANUAL.read_text()
    start = text.index("## A handcrafted feature or cross-view metric")
    section = text[start:text.index("\n## ", start + 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


FEATURE_PLUGIN, METRIC_PLUGIN = manual_examples()


def install(folder, distribution, group, source):
    """A plugin distribution with one entry point in ``group``, as pip leaves it."""
    module = distribution.replace("-", "_")
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{group}]\n{distribution} = {module}\n")
    return module


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A feature plugin, a metric plugin and a broken feature plugin, installed."""
    modules = [install(tmp_path, "row-feature", "rgbd_bench.features", FEATURE_PLUGIN),
               install(tmp_path, "manhattan-metric", "rgbd_bench.metrics", METRIC_PLUGIN),
               install(tmp_path, "broken-feature", "rgbd_bench.features",
                       "import no_such_module\n")]
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_BROKEN", [])
    yield
    for name in [n for n in registry._REGISTRY if n.startswith("rows-")
                 or n.endswith("-manhattan")]:
        registry._REGISTRY.pop(name)
    FEATURES.remove("rows")
    METRICS.remove("manhattan")
    for module in modules:
        sys.modules.pop(module, None)


def band_frames(n_ids=6, per_id=8, seed=0):
    """Identity k wears a band at rows 4k..4k+7: bright in RGB, near in depth."""
    from methods.core.frames import PairedFrames

    rng = np.random.default_rng(seed)
    pids = np.repeat(np.arange(n_ids), per_id)
    rgb = rng.integers(40, 80, size=(len(pids), 32, 16, 3))
    depth = rng.integers(2900, 3100, size=(len(pids), 32, 16))
    for i, pid in enumerate(pids):
        rgb[i, 4 * pid:4 * pid + 8] += 150
        depth[i, 4 * pid:4 * pid + 8] -= 1000
    n = len(pids)
    return PairedFrames(pids, np.zeros(n, np.int64), np.arange(n), rgb.astype(np.uint8),
                        depth.astype(np.uint16))


def test_a_plugin_feature_meets_every_metric_and_a_plugin_metric_every_feature(
        plugins, tmp_path):
    methods = available_methods()
    for name in ("rows-euclidean", "rows-xqda", "rows-cca", "rows-lsscdl",
                 "whos-manhattan", "lomo-manhattan", "pixels-manhattan", "rows-manhattan"):
        assert name in methods, name
    assert methods["eigen-depth-manhattan"].settings == DEPTH_ONLY
    assert "eigen-depth-xqda" not in methods  # XQDA needs one space for both modalities

    cls = get_method("rows-xqda")
    fields = {f.name for f in dataclasses.fields(cls.Options)}
    assert fields == {"scale", "lam", "max_frames_per_identity"}
    assert cls.option_group == "handcrafted"

    context = TaskContext(artifact_root=tmp_path, dataset_key="bands", seed=0, quiet=True)
    matcher = cls(context, scale=2.0).fit(band_frames(), band_frames(n_ids=2, seed=2))
    test = band_frames(per_id=3, seed=1)
    rgb, depth = matcher.embed(test.rgb, "rgb"), matcher.embed(test.depth, "depth")
    np.testing.assert_array_equal(test.pids[matcher.distance(rgb, depth).argmin(1)],
                                  test.pids)
    manhattan = get_method("rows-manhattan")(context)
    a, b = manhattan.embed(test.rgb[:2], "rgb"), manhattan.embed(test.rgb[2:5], "rgb")
    np.testing.assert_allclose(manhattan.distance(a, b),
                               np.abs(a[:, None] - b[None]).sum(-1), rtol=1e-12)


def test_a_broken_feature_plugin_is_reported_and_breaks_nothing(plugins):
    assert "whos-xqda" in available_methods() and "rows-xqda" in available_methods()
    broken = broken_plugins()
    assert [b.entry_point for b in broken] == ["broken-feature"]
    assert "No module named 'no_such_module'" in broken[0].reason
    assert "pip uninstall broken-feature" in broken[0].describe()


class DepthOnly(Feature):
    modalities = ("depth",)

    def describe(self, inputs, modality):
        return np.zeros((len(inputs), 1))


@pytest.mark.parametrize("feature, metric, settings", [
    (Whos, Euclidean, CROSS_MODAL), (Whos, Xqda, CROSS_MODAL), (Whos, Cca, CROSS_MODAL),
    (EigenDepth, Euclidean, DEPTH_ONLY), (EigenDepth, Xqda, ()), (EigenDepth, Cca, CROSS_MODAL),
    (DepthOnly, Euclidean, DEPTH_ONLY), (DepthOnly, Xqda, ()), (DepthOnly, Cca, ()),
])
def test_pair_settings_follow_what_feature_and_metric_declare(feature, metric, settings):
    assert pair_settings(feature, metric) == settings


def test_the_existing_rows_keep_their_options():
    def names(cls):
        return {f.name for f in dataclasses.fields(cls)}

    assert names(get_method("lomo-xqda").Options) == names(LomoOptions) | names(XqdaOptions)
    assert get_method("lomo-euclidean").Options is LomoOptions
    assert get_method("eigen-depth-euclidean").Options is EigenDepthOptions
    assert names(get_method("eigen-depth-cca").Options) == (names(EigenDepthOptions)
                                                            | names(CcaOptions))
    assert get_method("eigen-depth-cca").option_group == "eigen_depth"


@pytest.mark.parametrize("options, message", [
    ({"lam": -1.0}, "lam"), ({"retinex": "yes"}, "retinex"),
    ({"feature_size": (128,)}, "feature_size"), ({"pca_dim": 0}, "pca_dim"),
])
def test_a_pairs_options_check_both_parts(options, message):
    name = "lomo-cca" if "pca_dim" in options else "lomo-xqda"
    with pytest.raises(ConfigError, match=message):
        get_method(name)(None, **options)


def test_an_option_declared_by_feature_and_metric_is_an_error():
    @dataclasses.dataclass(frozen=True)
    class Clashing:
        lam: float = 1.0

    class ClashingFeature(Whos):
        Options = Clashing

    with pytest.raises(ConfigError, match="lam"):
        pair_options(ClashingFeature, Xqda)


def test_a_pairs_fingerprint_covers_its_feature_and_metric():
    assert get_method("whos-xqda").version == code_digest(Whos, Xqda)
    versions = {get_method(n).version for n in ("whos-xqda", "whos-cca", "lomo-xqda")}
    assert len(versions) == 3
    assert handcrafted_method(Lomo, Cca).version == get_method("lomo-cca").version

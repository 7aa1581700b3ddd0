"""Method registry: decorator registration, entry-point plugins, clear errors."""

import sys
import textwrap

import numpy as np
import pytest

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run, resolved_options
from benchmark.runs.runner import Paths, run_profile
from methods.core import registry
from methods.core.distance import euclidean_distance
from methods.core.errors import ConfigError
from methods.core.matcher import Matcher
from methods.core.registry import available_methods, get_method, register

PLUGIN = '''
import numpy as np
from methods.core.matcher import Matcher
from methods.core.registry import register


@register("plugin-mean-intensity")
class MeanIntensity(Matcher):
    summary = "mean intensity (test plugin)"

    def embed(self, images, modality):
        return np.asarray(images, dtype=float).reshape(len(images), -1).mean(1, keepdims=True)
'''


@pytest.fixture
def installed_plugin(tmp_path, monkeypatch):
    """A plugin distribution on sys.path that declares an entry point, as pip installs it."""
    (tmp_path / "demo_plugin.py").write_text(PLUGIN)
    info = tmp_path / "demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [rgbd_bench.methods]
        demo = demo_plugin
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_loaded", False)
    yield
    registry._REGISTRY.pop("plugin-mean-intensity", None)
    sys.modules.pop("demo_plugin", None)


def test_entry_point_plugin_is_found_and_runs(installed_plugin, tmp_path, toy_profile_file):
    cls = get_method("plugin-mean-intensity")
    assert cls.name == "plugin-mean-intensity"
    assert "plugin-mean-intensity" in available_methods()
    profile = load_profile(str(toy_profile_file), ['run.methods=["plugin-mean-intensity"]'])
    records = run_profile(plan_run(profile), Paths(tmp_path / "o", tmp_path / "c"), quiet=True)
    assert len(records) == 2 and records[0]["method"] == "plugin-mean-intensity"


def test_builtin_baseline_is_registered():
    assert "pixels-euclidean" in available_methods()


def test_unknown_name_lists_known_methods():
    with pytest.raises(ConfigError, match="pixels-euclidean"):
        get_method("no-such-method")


def test_register_rejects_non_matchers_and_duplicates():
    with pytest.raises(TypeError):
        register("x")(object)

    class One(Matcher):
        def embed(self, images, modality):
            return np.zeros((len(images), 1))

    class Two(One):
        pass

    register("dup-test")(One)
    try:
        with pytest.raises(ConfigError, match="registered twice"):
            register("dup-test")(Two)
    finally:
        registry._REGISTRY.pop("dup-test")


def test_unknown_option_is_an_error():
    with pytest.raises(ConfigError, match="unknown option"):
        get_method("pixels-euclidean")(bogus=1)


def test_euclidean_distance_matches_direct_formula():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    direct = np.sqrt(((q[:, None] - g[None]) ** 2).sum(-1))
    np.testing.assert_allclose(euclidean_distance(q, g), direct, atol=1e-12)


@pytest.mark.parametrize("profile", ["smoke", "quick", "paper", "paper-corrected", "ablation"])
def test_every_method_of_the_builtin_profiles_is_registered(profile):
    from benchmark.runs.config import load_profile
    loaded = load_profile(profile)
    tasks = plan_run(loaded).tasks
    assert {t.method for t in tasks} == set(loaded.run.methods)
    order = [t.method for t in tasks]
    for task in tasks:  # everything a method reuses runs before it
        for needed in getattr(get_method(task.method), "requires", ()):
            if needed in order:
                assert order.index(needed) < order.index(task.method)
    for name in loaded.run.methods:  # every option section is accepted by its method
        get_method(name)(**resolved_options(loaded, name))

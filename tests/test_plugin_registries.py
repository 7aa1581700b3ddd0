"""Backbones, heads and data sets by registry: code registration, entry-point plugins,
and an unknown name named (with the known ones) before anything runs."""

import subprocess
import sys
import textwrap

import pytest
import torch

from benchmark.datasets.base import DATASETS, get_dataset
from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from methods.core.errors import ConfigError
from methods.core.named_registry import Registry
from methods.deep.backbones.families import BACKBONES, build_backbone, family
from methods.deep.networks import HEAD_BUILDERS, build_network, register_head
from methods.deep.option_sections import NetworkOptions

BACKBONE_PLUGIN = '''
from torch import nn

from methods.api import Backbone, register_backbone


@register_backbone("tiny-plugin-net")
class TinyNet(Backbone):
    STAGE_PARTS = {"stem": ("conv1",), "layer1": ("layer1",), "layer2": ("layer2",),
                   "layer3": ("layer3",), "layer4": ("layer4",)}
    FIRST_CONV = "conv1"

    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        for k in range(1, 5):
            setattr(self, f"layer{k}", nn.Sequential(nn.Conv2d(4, 4, 1)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    @property
    def feature_dim(self):
        return 4
'''

DATASET_PLUGIN = '''
from benchmark.datasets.base import Dataset
from methods.api import PairedFrames


class PluginSet(Dataset):
    """A data set a plugin adds; registered under its entry point's name."""

    def build(self, size):
        raise NotImplementedError
'''


def install(tmp_path, monkeypatch, modules: dict[str, str], entry_points: str) -> None:
    """A plugin distribution on sys.path declaring ``entry_points``, as pip installs it."""
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(source)
    info = tmp_path / "registry_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: registry-plugin\n"
                                   "Version: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    monkeypatch.syspath_prepend(str(tmp_path))
    for module in modules:
        monkeypatch.delitem(sys.modules, module, raising=False)


@pytest.fixture
def fresh(monkeypatch):
    """The registries as they are, to be searched for plugins again and restored after."""
    for registry in (BACKBONES, HEAD_BUILDERS, DATASETS):
        registry.items()
        monkeypatch.setattr(registry, "_items", dict(registry._items))
        monkeypatch.setattr(registry, "_broken", [])
        monkeypatch.setattr(registry, "_loaded", False)


def test_backbone_plugin_is_found_by_entry_point_and_builds(tmp_path, monkeypatch, fresh):
    install(tmp_path, monkeypatch, {"tiny_backbone": BACKBONE_PLUGIN},
            "[rgbd_bench.backbones]\ntiny = tiny_backbone\n")
    assert NetworkOptions(arch="tiny-plugin-net").arch == "tiny-plugin-net"
    network = build_network("tiny-plugin-net", "softmax", num_classes=3, embedding_dim=5)
    embedding, logits = network.eval()(torch.zeros(2, 3, 8, 4))
    assert embedding.shape == (2, 5) and logits.shape == (2, 3)
    assert build_backbone("tiny-plugin-net", in_channels=2).conv1.in_channels == 2


def test_dataset_plugin_object_is_registered_under_its_entry_point_name(
        tmp_path, monkeypatch, fresh):
    install(tmp_path, monkeypatch, {"plugin_set": DATASET_PLUGIN},
            "[rgbd_bench.datasets]\nplugged = plugin_set:PluginSet\n")
    dataset = get_dataset("plugged")
    assert type(dataset).__name__ == "PluginSet" and dataset.name == "plugged"
    assert "synthetic" in DATASETS.names()


def test_broken_plugin_is_named_by_the_unknown_name_error(tmp_path, monkeypatch, fresh,
                                                          caplog):
    install(tmp_path, monkeypatch, {"broken_backbone": "raise RuntimeError('no torch here')"},
            "[rgbd_bench.backbones]\nbroken = broken_backbone\n")
    with pytest.raises(ConfigError, match="unknown architecture 'broken-net'.*resnet10.*"
                                          "no torch here"):
        family("broken-net")
    assert "no torch here" in caplog.text
    assert family("resnet18").__name__ == "ResNetBackbone"  # the others still work


def test_unknown_architecture_fails_when_the_run_is_planned():
    profile = load_profile("smoke", ['options.deep.network.arch="resnet999"'])
    with pytest.raises(ConfigError, match="unknown architecture 'resnet999'; known: "
                                          "resnet10, resnet18"):
        plan_run(profile)


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown data set 'nope'; known: .*synthetic"):
        get_dataset("nope")


def test_registered_head_is_built_and_unknown_head_is_named(fresh):
    @register_head("linear-only")
    def linear_only(in_features, num_classes, embedding_dim, dropout):
        layer = torch.nn.Linear(in_features, embedding_dim)
        return lambda x: (layer(x), None)

    network = build_network("resnet10", "linear-only", embedding_dim=7)
    assert network.eval()(torch.zeros(1, 3, 32, 16))[0].shape == (1, 7)
    with pytest.raises(ConfigError, match="unknown head 'arcface'; known: softmax, triplet, "
                                          "linear-only"):
        build_network("resnet10", "arcface")


def test_a_name_is_registered_once_and_items_are_checked():
    registry: Registry[type] = Registry("widget", "rgbd_bench.widgets",
                                        accept=lambda name, item: None)
    registry.add("a", int)
    registry.add("a", int)  # the same item again (a module imported twice) is fine
    with pytest.raises(ConfigError, match="widget name 'a' is registered twice: by "
                                          "builtins.int and by builtins.float"):
        registry.add("a", float)
    with pytest.raises(TypeError, match="Backbone subclass"):
        BACKBONES.add("not-a-backbone", int)
    with pytest.raises(ConfigError, match="named 'synthetic', registered as 'other'"):
        DATASETS.add("other", DATASETS.get("synthetic"))


def test_the_dataset_registry_imports_no_dataset_module():
    """No import circle: the registry names the built-in data sets by where they live and
    imports them on the first lookup only."""
    code = ("import sys, benchmark.datasets.base as b; "
            "print(sorted(m for m in sys.modules if m.startswith('benchmark.datasets.'))); "
            "b.get_dataset('synthetic'); print('benchmark.datasets.synthetic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert "synthetic" not in out[0] and "biwi" not in out[0] and out[1] == "True"

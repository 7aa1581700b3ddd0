"""The plugins shipped in plugins/: each imports nothing of ours but ``methods.api``, fits
its line budget, and registers through the entry point its pyproject.toml declares."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib
from import_graph import OURS, imported_modules

from methods.core import registry
from methods.core.registry import get_method

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
BUDGETS = {"rgbd-agw": 150, "rgbd-twostream": 100, "rgbd-cmtriplet": 60, "rgbd-kissme": 100}
GROUP = "rgbd_bench.methods"


def packages() -> list[Path]:
    """The package folder of every plugin: the one its pyproject.toml names."""
    found = []
    for project in sorted(PLUGINS.glob("*/pyproject.toml")):
        names = tomllib.loads(project.read_text())["tool"]["setuptools"]["packages"]
        found += [project.parent / name for name in names]
    return found


def test_every_plugin_is_known_and_has_a_budget() -> None:
    assert sorted(p.parent.name for p in packages()) == sorted(BUDGETS)


@pytest.mark.parametrize("package", packages(), ids=lambda p: p.parent.name)
def test_a_plugin_imports_nothing_of_ours_but_the_public_api(package: Path) -> None:
    for path in package.rglob("*.py"):
        ours = {m for m in imported_modules(path.read_text()) if m.split(".")[0] in OURS}
        assert ours <= {"methods.api"}, f"{path} imports {sorted(ours - {'methods.api'})}"


def test_the_import_check_sees_what_it_must_refuse() -> None:
    source = ("from methods.deep.baselines import DeepMethod\nimport methods.core.errors\n"
              "from methods import api\nfrom methods.core import registry\n"
              "from methods.api import Matcher")
    assert {m for m in imported_modules(source) if m.split(".")[0] in OURS} == {
        "methods.deep.baselines", "methods.core.errors", "methods.api", "methods.core.registry"}


@pytest.mark.parametrize("package", packages(), ids=lambda p: p.parent.name)
def test_a_plugin_is_within_its_line_budget(package: Path) -> None:
    lines = sum(1 for path in package.rglob("*.py")
                for line in path.read_text().splitlines() if line.strip())
    assert lines <= BUDGETS[package.parent.name], f"{package}: {lines} non-blank lines"


@pytest.mark.parametrize("plugin", ["rgbd-twostream", "rgbd-cmtriplet"])
def test_a_plugin_registers_through_its_declared_entry_point(plugin, tmp_path,
                                                             monkeypatch) -> None:
    project = tomllib.loads((PLUGINS / plugin / "pyproject.toml").read_text())["project"]
    entries = project["entry-points"][GROUP]
    info = tmp_path / f"{plugin.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {plugin}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(PLUGINS / plugin))
    monkeypatch.setattr(registry, "_loaded", False)
    for name, module in entries.items():
        monkeypatch.delitem(sys.modules, module, raising=False)
        monkeypatch.delitem(registry._REGISTRY, name, raising=False)
        cls = get_method(name)
        assert cls.name == name and cls.__module__ == module
        assert not registry.broken_plugins()

"""One provenance: a task's identity follows exactly what it reads, the code it runs, the
tasks it needs and its data; artifacts follow it; --force recomputes for real."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import typing
from pathlib import Path

import pytest

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.runner import Paths, run_profile
from methods.core.errors import ConfigError
from methods.core.identity import SPEED_ONLY, identity_options, method_code
from methods.core.registry import available_methods, get_method
from methods.deep import engine

ROOT = Path(__file__).resolve().parents[1]
ALTERNATIVES = {"pretrained": ["imagenet", "none"], "arch": ["resnet18", "resnet10"],
                "freeze_from": ["layer2"],
                "depth_encoding": ["colormap", "relative", "normalised"],
                "eval_schedule": ["end-of-period", "authors"]}


def leaves(options_class: type, prefix: tuple[str, ...] = ()):
    """(path, field) of every leaf field of an options dataclass."""
    hints = typing.get_type_hints(options_class)
    for item in dataclasses.fields(options_class):
        if dataclasses.is_dataclass(hints[item.name]):
            yield from leaves(hints[item.name], (*prefix, item.name))
        else:
            yield (*prefix, item.name), item


def changed_values(value, name: str, hint) -> list:
    """Valid-looking other values of a field, most likely first."""
    if typing.get_origin(hint) is typing.Literal:
        return [v for v in typing.get_args(hint) if v != value]
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, int):
        return [value + 1]
    if isinstance(value, float):
        return [value / 2 if value else 0.1]
    if isinstance(value, (tuple, list)):
        return [[changed_values(value[0], name, None)[0], *value[1:]]]
    if value is None:
        return [3]
    return [v for v in ALTERNATIVES.get(name, []) if v != value]


def plan_of(method: str, *overrides: str):
    return plan_run(load_profile("smoke", [f'run.methods=["{method}"]', "run.folds=1",
                                           *overrides]))


def toml(value) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


# Fields whose other values need a companion setting (kept the same in both plans).
COMPANIONS = {"crop_from": ["network.resize=\"pil-bilinear\""],
              "cache_fixed_stages": ["network.train_from=\"head\"",
                                     "augmentation.crop=\"none\"",
                                     "step2.augmentation.crop=\"none\""]}
# Every field is changed from plans without the store of fixed-stage outputs (a speed-only
# field): with it, the other values of the fields that change a network's inputs (crops,
# erasing, resize, train_from) are invalid. The store's own field is tried from there.
UNSTORED = "compute.cache_fixed_stages=false"


@pytest.mark.parametrize("method", sorted(available_methods()))
def test_every_field_a_method_reads_is_in_its_identity_and_no_speed_field_is(method):
    cls = get_method(method)
    declared = {".".join(path) for path, _ in leaves(cls.Options)}
    unchanged = []
    for path, item in leaves(cls.Options):
        if _pinned(cls.pinned, path):
            continue  # the method fixes it over any profile value
        companions = [f"options.{method}.{c}"
                      for c in [UNSTORED, *COMPANIONS.get(path[-1], [])]
                      if c.split("=")[0] in declared]
        base = plan_of(method, *companions).task(method, 0)
        value = base.options
        for part in path:
            value = value[part]
        hint = typing.get_type_hints(_owner(cls.Options, path))[path[-1]]
        for candidate in changed_values(value, path[-1], hint):
            key = f"options.{method}.{'.'.join(path)}"
            try:
                task = plan_of(method, *companions, f"{key}={toml(candidate)}").task(method, 0)
            except ConfigError:
                continue  # not a valid value of this field: try the next
            speed = item.metadata.get(SPEED_ONLY, False)
            moved = task.provenance.static_key != base.provenance.static_key
            assert moved != speed, (path, candidate)
            assert (task.provenance.training_key != base.provenance.training_key) == moved
            break
        else:
            unchanged.append(".".join(path))
    assert unchanged == [], f"no valid other value found for {unchanged}"


def _pinned(pins: dict, path: tuple[str, ...]) -> bool:
    for part in path:
        if not isinstance(pins, dict) or part not in pins:
            return False
        pins = pins[part]
    return True


def _owner(options_class: type, path: tuple[str, ...]) -> type:
    for part in path[:-1]:
        options_class = typing.get_type_hints(options_class)[part]
    return options_class


def test_a_needed_tasks_field_changes_the_needing_tasks_identity_and_nothing_else():
    smoke = plan_run(load_profile("smoke"))
    step1 = plan_run(load_profile("smoke", ["options.resnet-depth-softmax.selection.epochs=2"]))
    moved = {t.method for t in smoke.tasks
             if step1.task(t.method, t.fold).identity != t.identity}
    assert moved == {"resnet-depth-softmax", "distill-depth2rgb-softmax"}
    amp = plan_run(load_profile("smoke", ["options.distillation.numerics.amp=true"]))
    moved = {t.method for t in smoke.tasks
             if amp.task(t.method, t.fold).provenance.training_key
             != t.provenance.training_key}
    assert moved == {m for m in smoke.methods() if m.startswith("distill-")}
    speed = plan_run(load_profile("smoke", ["options.deep.compute.num_threads=2",
                                            "options.deep.compute.eval_batch_size=8"]))
    assert [t.identity for t in speed.tasks] == [t.identity for t in smoke.tasks]


def test_identity_options_drop_speed_fields_only():
    from methods.deep.option_sections import SoftmaxOptions

    kept = identity_options(SoftmaxOptions())
    assert "compute" not in kept and kept["softmax"]["lr"] == 0.1
    assert set(kept) == {f.name for f in dataclasses.fields(SoftmaxOptions)} - {"compute"}


def copy_of_the_code(tmp_path: Path) -> Path:
    copy = tmp_path / "code"
    for package in ("benchmark", "methods", "features"):
        shutil.copytree(ROOT / package, copy / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def code_digests(copy: Path) -> dict[str, str]:
    script = ("import json; from methods.core.registry import available_methods; "
              "from methods.core.identity import method_code; "
              "print(json.dumps({n: method_code(c) for n, c in available_methods().items()}))")
    out = subprocess.run([sys.executable, "-c", script], cwd=copy, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(copy)}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def add_first_line(path: Path, function: str, line: str) -> None:
    """Insert ``line`` as the first statement of ``function``'s body (after its docstring)."""
    text = path.read_text()
    start = text.index(f"def {function}(")
    body = text.index('"""', text.index('"""', start) + 3) + 3
    path.write_text(f"{text[:body]}\n    {line}{text[body:]}")


def test_code_edits_make_exactly_the_rows_that_run_the_code_stale(tmp_path):
    copy = copy_of_the_code(tmp_path)
    before = code_digests(copy)
    assert before == {n: method_code(c) for n, c in available_methods().items()}

    edit(copy / "features" / "whos_descriptor.py", "def whos(",
         "# a comment and a blank line change nothing\n\ndef whos(")
    assert code_digests(copy) == before

    edit(copy / "features" / "whos_descriptor.py", "def whos(", "def _unused():\n"
         "    return 1\n\n\ndef whos(")  # a new function nothing calls
    assert code_digests(copy) == before

    add_first_line(copy / "methods" / "deep" / "losses.py", "batch_hard_triplet_loss",
                   "margin = margin * 1.0")
    after_loss = code_digests(copy)
    stale = {n for n in before if after_loss[n] != before[n]}
    assert {"resnet-rgb-triplet", "resnet-depth-triplet"} <= stale
    assert not {n for n in stale if n.startswith(("whos", "lomo", "eigen", "pixels"))}

    add_first_line(copy / "features" / "whos_descriptor.py", "whos", "images = images")
    after_feature = code_digests(copy)
    whos_rows = {n for n in before if n.startswith("whos-")}
    assert {"whos-euclidean", "whos-xqda"} <= whos_rows
    assert {n for n in before if after_feature[n] != after_loss[n]} == whos_rows


def test_a_plugins_code_is_fingerprinted_without_listing_anything(tmp_path, monkeypatch):
    package = tmp_path / "myplugin"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "loss.py").write_text("def my_loss(x):\n    return x * 2\n")
    (package / "method.py").write_text(textwrap.dedent("""
        from methods.api import Matcher
        from myplugin.loss import my_loss

        class MyMethod(Matcher):
            def embed(self, images, modality):
                return my_loss(images.reshape(len(images), -1))
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    from myplugin.method import MyMethod

    before = method_code(MyMethod)
    (package / "loss.py").write_text("def my_loss(x):\n    return x * 3\n")
    from methods.core import fingerprint

    fingerprint._module.cache_clear()
    fingerprint._definition.cache_clear()
    assert method_code(MyMethod) != before
    (package / "loss.py").write_text("def my_loss(x):  # doubled\n    return x * 2\n")
    fingerprint._module.cache_clear()
    fingerprint._definition.cache_clear()
    assert method_code(MyMethod) == before
    for name in [m for m in sys.modules if m.startswith("myplugin")]:
        del sys.modules[name]


def test_force_retrains_the_network_and_a_failed_forced_task_leaves_no_record(
        tmp_path, toy_profile_file, monkeypatch):
    profile = load_profile(str(toy_profile_file), [
        'run.methods=["resnet-rgb-softmax"]', "run.folds=1",
        'options.deep.network.arch="resnet10"', "options.deep.network.height=16",
        "options.deep.network.width=8", "options.deep.selection.epochs=1",
        "options.deep.selection.eval_every=1", "options.deep.softmax.batch_size=8"])
    paths = Paths(tmp_path / "out", tmp_path / "cache")
    fits = []
    original = engine.Engine.fit

    def counted(self):
        fits.append(1)
        return original(self)

    monkeypatch.setattr(engine.Engine, "fit", counted)
    first, = run_profile(plan_run(profile), paths, quiet=True)
    again, = run_profile(plan_run(profile), paths, quiet=True)
    assert len(fits) == 1 and again["provenance"] == first["provenance"]
    forced, = run_profile(plan_run(profile), paths, quiet=True, force=True)
    assert len(fits) == 2 and forced["provenance"]["date"] >= first["provenance"]["date"]
    assert forced["task_hash"] == first["task_hash"]
    network, = (tmp_path / "cache" / "artifacts").rglob("network.pt")

    def broken(self):
        raise RuntimeError("edited code that fails")

    monkeypatch.setattr(engine.Engine, "fit", broken)
    from benchmark.runs.runner import TasksFailed

    with pytest.raises(TasksFailed):
        run_profile(plan_run(profile), paths, quiet=True, force=True)
    store = paths.record_store(profile)
    assert not store.all_of("toy", "resnet-rgb-softmax", 0)
    assert network.is_file()  # the failed training left the stored network as it was

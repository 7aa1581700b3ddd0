"""The planner: every task resolved once (options, pins, seed, inputs, identity), and the
runner, the dry run and reruns reading that one plan."""

import dataclasses
import json
from dataclasses import dataclass, field

import pytest

import benchmark.runs.config as config
from benchmark.cli import main
from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run, resolved_options
from benchmark.runs.runner import Paths, open_dataset, run_profile
from methods.core.context import derive_seed
from methods.core.matcher import Matcher
from methods.core.registry import _REGISTRY, register
from methods.handcrafted.pixels import PixelsEuclidean


@dataclass(frozen=True)
class NestedOptions:
    inner: dict = field(default_factory=lambda: {"a": 1, "b": 1})
    scale: int = 1


class PinnedNested(Matcher):
    """A method with a nested option and a pin inside it, needing pixels-euclidean."""

    Options = NestedOptions
    option_group = "plan-group"
    requires = ("pixels-euclidean",)
    pinned = {"inner": {"b": 7}}
    seen: list = []

    def fit(self, train, val):
        PinnedNested.seen.append((self.context.seed, dict(self.context.inputs),
                                  dataclasses.asdict(self.options)))
        return self

    def embed(self, images, modality):
        return images.reshape(len(images), -1)[:, :8].astype(float) * self.options.scale


@pytest.fixture
def pinned_method():
    register("plan-pinned-test")(PinnedNested)
    PinnedNested.seen = []
    yield "plan-pinned-test"
    _REGISTRY.pop("plan-pinned-test")


def toy(toy_profile_file, *overrides):
    return load_profile(str(toy_profile_file), list(overrides))


def test_pins_merge_last_field_by_field_in_one_place(toy_profile_file, pinned_method,
                                                      monkeypatch):
    calls = []
    original = Matcher.resolve_options.__func__
    monkeypatch.setattr(Matcher, "resolve_options", classmethod(
        lambda cls, given: (calls.append(cls.name), original(cls, given))[1]))
    profile = toy(toy_profile_file, f'run.methods=["{pinned_method}"]',
                  'options.plan-group.inner={a = 5, b = 2}', "options.plan-group.scale=3")
    plan = plan_run(profile)
    assert calls.count(pinned_method) == 1  # two folds, one resolution
    for task in plan.tasks:
        if task.method == pinned_method:  # b pinned over the section, a kept from it
            assert task.options == {"inner": {"a": 5, "b": 7}, "scale": 3}
    assert PinnedNested(inner={"a": 5}).options.inner == {"a": 5, "b": 7}  # direct use


def test_seeds_are_the_runs_derived_seeds_and_ablations_take_their_base(toy_profile_file):
    profile = toy(toy_profile_file, "run.seed=11", 'run.methods=["pixels-euclidean", '
                  '"distill-depth2rgb-softmax-freeze-layer3"]')
    plan = plan_run(profile)
    for fold in (0, 1):
        assert plan.task("pixels-euclidean", fold).seed == derive_seed(11, "pixels-euclidean",
                                                                       fold)
        ablation = plan.task("distill-depth2rgb-softmax-freeze-layer3", fold)
        assert ablation.seed == derive_seed(11, "distill-depth2rgb-softmax", fold)
        assert ablation.options["step2"]["freeze_from"] == "layer3"
        base = {t.method: t for t in ablation.needs}["distill-depth2rgb-softmax"]
        assert base.seed == ablation.seed


def test_distillation_teacher_is_the_resolved_step1_task(toy_profile_file):
    alone = plan_run(toy(toy_profile_file, 'run.methods=["distill-depth2rgb-softmax"]',
                         "options.deep.selection.epochs=3"))
    task = alone.task("distill-depth2rgb-softmax", 1)
    teacher, = task.needs
    assert teacher.method == "resnet-depth-softmax"
    assert teacher.wave is None and [t.wave for t in alone.tasks] == [0, 0]  # not run
    assert teacher.seed == derive_seed(0, "resnet-depth-softmax", 1)
    assert teacher.options == resolved_options(alone.profile, "resnet-depth-softmax")
    assert teacher.options["selection"]["epochs"] == 3
    both = plan_run(toy(toy_profile_file, 'run.methods=["distill-depth2rgb-softmax", '
                        '"resnet-depth-softmax"]'))
    assert both.task("distill-depth2rgb-softmax", 0).needs[0] is \
        both.task("resnet-depth-softmax", 0)
    assert [[t.method for t in w] for w in both.waves()] == [
        ["resnet-depth-softmax"] * 2, ["distill-depth2rgb-softmax"] * 2]


def test_identity_follows_what_a_task_reads_only(toy_profile_file, pinned_method):
    def identity(*overrides):
        return plan_run(toy(toy_profile_file, *overrides)).task("pixels-euclidean", 0).identity

    same = identity()
    assert identity("run.folds=3") == identity('run.device="cpu"') == same
    assert identity(f'run.methods=["pixels-euclidean", "{pinned_method}"]') == same
    assert identity("options.one-stream.selection.epochs=1") == same  # read by another method
    assert identity("options.pixels-euclidean.height=4") != same
    assert identity("run.trials=4") != same


def test_data_digest_follows_the_crops_and_the_fold(tmp_path, toy_profile_file):
    def data(*overrides):
        profile = toy(toy_profile_file, *overrides)
        open_dataset(profile, Paths(tmp_path / "o", tmp_path / "c"))
        plan = plan_run(profile, cache_dir=tmp_path / "c")
        return [plan.task("pixels-euclidean", k).provenance.data for k in (0, 1)]

    same = data()
    assert None not in same and same[0] != same[1] and data() == same
    assert data("dataset.identities=10") != same
    unknown = plan_run(toy(toy_profile_file)).task("pixels-euclidean", 0).provenance
    assert unknown.data is None


def test_runner_gives_a_method_its_plan_seed_options_and_inputs(tmp_path, toy_profile_file,
                                                                pinned_method):
    plan = plan_run(toy(toy_profile_file, f'run.methods=["{pinned_method}"]', "run.folds=1"))
    run_profile(plan, Paths(tmp_path / "o", tmp_path / "c"), quiet=True)
    (seed, inputs, options), = PinnedNested.seen
    task = plan.with_data(tmp_path / "c").task(pinned_method, 0)
    assert seed == task.seed and options == task.options
    assert inputs == {"pixels-euclidean": task.needs[0].as_input()}


def test_rerun_resumes_and_a_changed_option_reruns(tmp_path, toy_profile_file, monkeypatch):
    paths = Paths(tmp_path / "o", tmp_path / "c")
    first = run_profile(plan_run(toy(toy_profile_file)), paths, quiet=True)
    fits = []
    original = PixelsEuclidean.fit

    def counted(self, train, val):
        fits.append(self.context.fold)
        return original(self, train, val)

    monkeypatch.setattr(PixelsEuclidean, "fit", counted)
    again = run_profile(plan_run(toy(toy_profile_file)), paths, quiet=True)
    assert fits == []  # a fresh plan finds every record current and reads it back
    assert [r["provenance"]["date"] for r in again] == [r["provenance"]["date"] for r in first]
    changed = plan_run(toy(toy_profile_file, "options.pixels-euclidean.height=4"))
    assert not any(changed.is_current(r) for r in first)
    run_profile(changed, paths, quiet=True)
    assert fits == [0, 1]


def test_dry_run_json_shows_the_options_a_task_runs_with(tmp_path, toy_profile_file, capsys):
    argv = ["run", "--profile", str(toy_profile_file), "--output", str(tmp_path / "o"),
            "--cache", str(tmp_path / "c"), "--set", "options.pixels-euclidean.width=4",
            "--quiet", "--no-tables"]
    assert main([*argv, "--dry-run", "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    assert main([*argv, "--dry-run", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    records = sorted((tmp_path / "o" / "records").rglob("fold*.json"))
    for task, known, path in zip(planned["tasks"], after["tasks"], records, strict=True):
        record = json.loads(path.read_text())
        assert task["options"] == record["method_config"] == {"height": 16, "width": 4}
        assert task["seed"] == record["seeds"]["method"]
        # before the crops exist the data digest is unknown; the rest is the record's
        assert task["provenance"]["data"] is None
        assert task["provenance"]["static_key"] == record["identity"]["static_key"]
        assert known["identity"] == record["task_hash"] == record["identity"]["identity"]
        assert set(known["provenance"]) >= {"options", "code", "needs", "data", "seed"}
        assert record["profile"] == "toy" != planned["variant"]  # the variant's tables
    assert [t["record_current"] for t in after["tasks"]] == [True, True]


def test_cli_reads_the_profile_file_once(tmp_path, toy_profile_file, monkeypatch, capsys):
    reads = []
    original = config._profile_text
    monkeypatch.setattr(config, "_profile_text",
                        lambda name: (reads.append(name), original(name))[1])
    assert main(["run", "--profile", str(toy_profile_file), "--dataset", "synthetic",
                 "--trials", "2", "--set", "run.seed=3", "--dry-run",
                 "--output", str(tmp_path)]) == 0
    assert reads == [str(toy_profile_file)]
    assert "synthetic pixels-euclidean fold 1" in capsys.readouterr().out

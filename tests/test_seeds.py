"""Several training seeds per task: the planner's tasks, seeds and identities, the
profiles' defaults, and the runner writing one record per seed."""

import pytest

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from benchmark.runs.records import RecordStore
from benchmark.runs.runner import Paths, run_profile
from methods.core.context import derive_seed
from methods.core.errors import ConfigError
from methods.core.registry import get_method

TRAINED = "distill-depth2rgb-softmax"  # needs resnet-depth-softmax, trains with randomness


def toy(toy_profile_file, *overrides):
    return load_profile(str(toy_profile_file), list(overrides))


def plan_of(toy_profile_file, seeds, methods=("pixels-euclidean", TRAINED)):
    names = ", ".join(f'"{m}"' for m in methods)
    return plan_run(toy(toy_profile_file, f"run.methods=[{names}]", f"run.seeds={seeds}",
                        "run.seed=5"))


def test_trained_methods_get_one_task_per_seed_deterministic_ones_one(toy_profile_file):
    plan = plan_of(toy_profile_file, 3)
    counts = {m: sorted((t.fold, t.seed_index) for t in plan.tasks if t.method == m)
              for m in plan.methods()}
    assert get_method("pixels-euclidean").deterministic_fit
    assert counts["pixels-euclidean"] == [(0, 0), (1, 0)]
    assert counts[TRAINED] == [(f, s) for f in (0, 1) for s in range(3)]


def test_seed_zero_is_todays_seed_and_identity_the_others_differ(toy_profile_file):
    one, three = plan_of(toy_profile_file, 1), plan_of(toy_profile_file, 3)
    for fold in (0, 1):
        first = three.task(TRAINED, fold, 0)
        assert first.seed == derive_seed(5, TRAINED, fold)  # a one-seed run's seed
        assert first.identity == one.task(TRAINED, fold).identity
        others = [three.task(TRAINED, fold, s) for s in (1, 2)]
        assert [t.seed for t in others] == [derive_seed(5, TRAINED, fold, "training-seed", s)
                                            for s in (1, 2)]
        assert len({first.identity, *(t.identity for t in others)}) == 3
        assert len({first.seed, *(t.seed for t in others)}) == 3


def test_a_students_teacher_has_its_seed_index(toy_profile_file):
    plan = plan_of(toy_profile_file, 3, methods=(TRAINED,))
    for index in range(3):
        teacher, = plan.task(TRAINED, 1, index).needs
        assert teacher.method == "resnet-depth-softmax" and teacher.seed_index == index
        assert teacher.seed == plan.task("resnet-depth-softmax", 1, index).seed


def test_records_beyond_the_plans_seeds_are_not_current(toy_profile_file):
    three, one = plan_of(toy_profile_file, 3), plan_of(toy_profile_file, 1)
    record = {"method": TRAINED, "fold": 0, "config": {"seed_index": 2},
              "identity": three.task(TRAINED, 0, 2).provenance.to_dict()}
    assert three.is_current(record) and not one.is_current(record)


def test_seed_count_other_than_the_profiles_names_its_tables(toy_profile_file):
    base = toy(toy_profile_file)
    changed = toy(toy_profile_file, "run.seeds=3")
    plan = plan_run(changed, base, ["run.seeds=3"])
    assert plan.variant == f"{base.name}+seeds3"
    assert plan_run(base, base, []).variant == base.name


def test_profiles_default_seeds_and_bad_counts_are_errors(toy_profile_file):
    assert load_profile("paper").run.seeds == 3
    assert load_profile("paper-corrected").run.seeds == 3
    assert load_profile("quick").run.seeds == 1
    with pytest.raises(ConfigError, match="seeds must be >= 1"):
        toy(toy_profile_file, "run.seeds=0")


def test_run_writes_one_record_per_seed_and_resumes_per_seed(tmp_path, toy_profile_file):
    profile = toy(toy_profile_file, 'run.methods=["pixels-euclidean", "plan-seeded"]',
                  "run.seeds=2", "run.folds=1")
    paths = Paths(tmp_path / "o", tmp_path / "c")
    first = run_profile(plan_run(profile), paths, quiet=True)
    assert sorted((r["method"], r["config"]["seed_index"]) for r in first) == [
        ("pixels-euclidean", 0), ("plan-seeded", 0), ("plan-seeded", 1)]
    store = RecordStore(tmp_path / "o" / "records", profile.name)
    assert len(store.all_of("toy", "plan-seeded", 0)) == 2
    assert len({r["seeds"]["method"] for r in first if r["method"] == "plan-seeded"}) == 2
    stamps = {p: p.stat().st_mtime_ns for p in store.all_of("toy", "plan-seeded", 0)}
    run_profile(plan_run(profile), paths, quiet=True)  # resumes: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in store.all_of("toy", "plan-seeded", 0)} == stamps


@pytest.fixture(autouse=True)
def seeded_method():
    """pixels-euclidean without deterministic_fit: trained once per seed."""
    from methods.core.registry import _REGISTRY, register
    from methods.handcrafted.pixels import PixelsEuclidean

    class Seeded(PixelsEuclidean):
        deterministic_fit = False

    register("plan-seeded")(Seeded)
    yield
    _REGISTRY.pop("plan-seeded")

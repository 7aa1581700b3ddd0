"""Teacher-student methods on the API: imports, frozen teachers, keys, the manual's example."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from import_graph import OURS, imported_modules
from test_distillation import frames

from benchmark.runs.config import load_profile
from benchmark.runs.planner import plan_run
from methods.core.context import TaskContext, TaskInput
from methods.core.registry import _REGISTRY, get_method
from methods.deep.baselines import train_or_load_step1
from methods.deep.engine import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
TEACHER = "resnet-depth-softmax"
TINY = {"network": {"arch": "resnet10", "height": 32, "width": 16},
        "selection": {"epochs": 1, "eval_every": 1}, "softmax": {"batch_size": 8},
        "recipe": {"epochs": 2, "batch_size": 4, "lr": 0.05}}


def own_imports(source: str) -> set[str]:
    """The modules of ours ``source`` imports, at any depth."""
    return {name for name in imported_modules(source) if name.split(".")[0] in OURS}


def test_distillation_imports_nothing_of_ours_but_the_api():
    source = ROOT / "methods" / "distillation.py"
    assert own_imports(source.read_text()) == {"methods.api"}
    stray = ("from methods import api\n"
             "def f():\n    from methods.deep.baselines import DeepMethod\n"
             "    import methods.core.errors\n")
    assert own_imports(stray) == {"methods.api", "methods.deep.baselines", "methods.core.errors"}


def manual_example() -> str:
    """The code of the manual's teacher-student example."""
    text = (ROOT / "docs" / "adding-a-method.md").read_text()
    section = text.split("## A teacher-student method", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.fixture
def depth_mimic():
    """The manual's example, registered as a plugin would register it."""
    namespace: dict = {}
    exec(compile(manual_example(), "docs/adding-a-method.md", "exec"), namespace)
    yield namespace["DepthMimic"]
    _REGISTRY.pop("depth-mimic")


@pytest.fixture(scope="module")
def split():
    return frames(3, 4, 0, 1), frames(2, 4, 10, 2)


def test_the_manual_example_imports_only_the_api():
    imports = {node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
               for node in ast.walk(ast.parse(manual_example()))
               if isinstance(node, (ast.Import, ast.ImportFrom))}
    assert {name for name in imports if name.startswith("methods")} == {"methods"}
    assert "from methods import api" in manual_example()


def test_requires_are_the_teachers_and_the_seed_method(depth_mimic):
    assert depth_mimic.requires == (TEACHER,)
    ablation = get_method("distill-depth2rgb-softmax-bn-fixed")
    assert ablation.requires == ("resnet-depth-softmax", "distill-depth2rgb-softmax")


def test_teacher_arrives_frozen_and_unchanged_by_the_students_training(tmp_path, split,
                                                                       depth_mimic):
    train, val = split
    context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", seed=5, quiet=True,
                          run_seed=3)
    step1_context = TaskContext(artifact_root=tmp_path, dataset_key="blobs", quiet=True,
                                seed=context.seed_of(TEACHER), run_seed=3)
    context.inputs = {TEACHER: TaskInput(TEACHER, 0, TINY, step1_context.seed)}  # as planned
    _, step1_path = train_or_load_step1("depth", "softmax", TINY, train, val, step1_context)
    step1_state, _ = load_checkpoint(step1_path)

    matcher = depth_mimic.from_offered(context, **TINY).fit(train, val)
    teacher, student = matcher.teacher, matcher.student
    assert matcher.teacher_checkpoint == step1_path  # found, not trained again
    assert not teacher.training
    assert all(not p.requires_grad and p.grad is None for p in teacher.parameters())
    for key, value in teacher.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(value.cpu(), step1_state[key]), key
    with pytest.raises(RuntimeError):  # no gradient can reach it
        teacher(torch.zeros(2, 3, 32, 16))[0].sum().backward()
    learnt = [k for k, v in student.state_dict().items()
              if v.is_floating_point() and not torch.equal(v.cpu(), step1_state[k])]
    assert any(k.startswith("backbone.") for k in learnt)  # the student did learn
    student_state, meta = load_checkpoint(matcher.checkpoint)
    assert meta["key"] == matcher.training_key(train, val) and meta["result"]["steps"] == 6
    assert all(torch.equal(v.cpu(), student_state[k]) for k, v in student.state_dict().items())

    assert matcher.embedding_network("depth") is teacher
    assert matcher.embedding_network("rgb") is student
    rgb = matcher.embed(val.rgb, "rgb")
    again = depth_mimic.from_offered(context, **TINY)
    np.testing.assert_array_equal(again.fit(train, val).embed(val.rgb, "rgb"), rgb)
    assert again.checkpoint == matcher.checkpoint


def test_the_students_key_follows_its_teachers_options(toy_profile_file, depth_mimic):
    def key(method: str, *overrides: str) -> str:
        profile = load_profile(str(toy_profile_file), [f'run.methods=["{method}"]', *overrides])
        return plan_run(profile).task(method, 0).provenance.training_key

    for method, teacher in (("depth-mimic", TEACHER),
                            ("distill-rgb2depth-triplet", "resnet-rgb-triplet")):
        plain = key(method)
        assert key(method, f"options.{teacher}.selection.epochs=7") != plain
        assert key(method, "options.resnet-rgb-softmax.selection.epochs=7") == plain
        assert key(method, "run.seed=9") != plain

"""The deep option sections: old flat keys, recipes onto the engine, artifact-key parts."""

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import parsed

from benchmark.config import load_profile
from benchmark.errors import ConfigError
from benchmark.options import build_options
from benchmark.planner import resolved_options
from methods.deep import softmax_recipe, triplet_recipe
from methods.deep_options import RENAMED, DeepOptions, engine_fields, key_of
from methods.distillation import STEP2_RENAMED, DistillationOptions
from methods.engine import TrainConfig


def field_paths(options_class: type, prefix: str = "") -> set[str]:
    """Every ``section.field`` path of an options class, nested sections included."""
    paths = set()
    for f in dataclasses.fields(options_class):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING \
            else f.default
        if dataclasses.is_dataclass(default):
            paths |= field_paths(type(default), f"{prefix}{f.name}.")
        else:
            paths.add(prefix + f.name)
    return paths


@pytest.mark.parametrize("renamed, group, options_class", [
    (RENAMED, "deep", DeepOptions), (STEP2_RENAMED, "distillation", DistillationOptions)])
def test_every_old_key_names_a_field_that_exists(renamed, group, options_class):
    paths = field_paths(options_class)
    for old, place in renamed.items():
        target = place.split()[0]
        assert target.startswith(f"{group}."), old
        assert target.removeprefix(f"{group}.") in paths, old
        with pytest.raises(ConfigError, match=f"option '{old}' has moved"):
            build_options(options_class, {old: 1}, "test")


def test_recipes_reach_the_engine_under_their_own_names():
    options = parsed(DeepOptions, network={"pretrained": "/weights.pth"},
                     selection={"epochs": 7, "eval_every": 3, "patience": 2},
                     augmentation={"crop": "pad-crop", "erasing": 0.25},
                     softmax={"lr": 0.05, "batch_size": 8, "lr_step": 5,
                              "backbone_lr_mult": 0.3, "weight_decay": 1e-3},
                     triplet={"lr": 3e-4, "p": 5, "k": 3, "identity_epochs": False},
                     numerics={"amp": True})
    softmax = softmax_recipe(options)
    assert (softmax.optimizer, softmax.sampler, softmax.lr, softmax.batch_size,
            softmax.lr_step, softmax.backbone_lr_mult, softmax.weight_decay) == (
        "sgd", "random", 0.05, 8, 5, 0.3, 1e-3)
    triplet = triplet_recipe(options)
    assert (triplet.optimizer, triplet.sampler, triplet.lr, triplet.p, triplet.k,
            triplet.lr_step, triplet.identity_epochs, triplet.weight_decay) == (
        "adam", "identity", 3e-4, 5, 3, 0, False, 5e-4)
    for config in (softmax, triplet):
        assert (config.epochs, config.eval_every, config.patience, config.amp) == (7, 3, 2,
                                                                                  True)
        assert config.augmentation == options.augmentation
    random_trunk = dataclasses.replace(options, network=dataclasses.replace(
        options.network, pretrained="none"))
    assert softmax_recipe(random_trunk).backbone_lr_mult == 1.0


def test_a_recipe_field_that_reaches_nothing_is_an_error():
    @dataclasses.dataclass(frozen=True)
    class Recipe:
        outside_engine = ("margin",)
        lr: float = 0.1
        margin: float = 0.3
        typo_rate: float = 0.2

    @dataclasses.dataclass(frozen=True)
    class Fixed:
        outside_engine = ("margin",)
        optimizer = "adam"
        lr: float = 0.1
        margin: float = 0.3

    with pytest.raises(TypeError, match="typo_rate"):
        engine_fields(Recipe())
    assert engine_fields(Fixed(lr=0.2)) == {"optimizer": "adam", "lr": 0.2}
    assert TrainConfig(**engine_fields(Fixed(lr=0.2))).lr == 0.2


def test_key_of_holds_the_named_sections_less_unread_fields():
    options = DeepOptions()
    key = key_of(options, ("network", "softmax"), ("network.zero_padding_channels",))
    assert set(key) == {"network", "softmax"}
    assert "zero_padding_channels" not in key["network"]
    assert key["softmax"] == dataclasses.asdict(options.softmax)


def flat_layout(options: dict) -> dict:
    """Resolved sectioned options in the names of the flat layout (:data:`RENAMED`)."""
    old_name = {place.split()[0].split(".", 1)[1]: old
                for old, place in {**RENAMED, **STEP2_RENAMED}.items()}
    flat, rest = {}, {}

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif prefix + key in old_name:
                flat[old_name[prefix + key]] = value
            else:
                rest[prefix + key] = value

    walk(options, "")
    flat["triplet_epoch"] = "identities" if flat.pop("triplet_epoch") else "images"
    flat["weight_decay"] = rest.pop("triplet.weight_decay")
    assert options["softmax"]["weight_decay"] == flat["weight_decay"]
    return flat, rest


def test_paper_profile_resolves_to_the_settings_it_had_in_the_flat_layout():
    """``tests/data/paper_flat_options.json``: each deep method's options as
    ``rgbd-bench run --profile paper --dry-run --json`` printed them before the sections."""
    before = json.loads((Path(__file__).parent / "data" / "paper_flat_options.json")
                        .read_text())
    paper = load_profile("paper")
    for method, flat_before in before.items():
        flat, new_only = flat_layout(resolved_options(paper, method))
        assert flat == flat_before, method
        # constants of the flat layout's code, now fields: SGD momentum, G's erasing
        assert new_only == ({"softmax.momentum": 0.9, "step2.augmentation.erasing": 0.0}
                            if "step2" in resolved_options(paper, method)
                            else {"softmax.momentum": 0.9}), method

"""The deep option sections: old flat keys, recipes onto the engine, artifact-key parts."""

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import parsed

from benchmark.runs.config import load_profile
from benchmark.runs.planner import resolved_options
from methods.core.errors import ConfigError
from methods.core.options import build_options, declared_fields
from methods.deep.baselines import softmax_recipe, triplet_recipe
from methods.deep.engine import TrainConfig
from methods.deep.option_sections import (
    RENAMED,
    SoftmaxOptions,
    TripletOptions,
    ZeroPaddingOptions,
    engine_fields,
)
from methods.distillation import STEP2_RENAMED, DistillationOptions


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


@pytest.mark.parametrize("renamed, group, options_classes", [
    (RENAMED, "deep", (SoftmaxOptions, TripletOptions, ZeroPaddingOptions)),
    (STEP2_RENAMED, "distillation", (DistillationOptions,))])
def test_every_old_key_names_a_field_that_exists(renamed, group, options_classes):
    paths = set().union(*map(field_paths, options_classes))
    options_class = options_classes[0]
    for old, place in renamed.items():
        target = place.split()[0]
        assert target.startswith(f"{group}."), old
        assert target.removeprefix(f"{group}.") in paths, old
        with pytest.raises(ConfigError, match=f"option '{old}' has moved"):
            build_options(options_class, {old: 1}, "test")


def test_recipes_reach_the_engine_under_their_own_names():
    shared = {"network": {"pretrained": "/weights.pth"},
              "selection": {"epochs": 7, "eval_every": 3, "patience": 2},
              "augmentation": {"crop": "pad-crop", "erasing": 0.25},
              "numerics": {"amp": True}}
    options = parsed(SoftmaxOptions, **shared,
                     softmax={"lr": 0.05, "batch_size": 8, "lr_step": 5,
                              "backbone_lr_mult": 0.3, "weight_decay": 1e-3})
    softmax = softmax_recipe(options)
    assert (softmax.optimizer, softmax.sampler, softmax.lr, softmax.batch_size,
            softmax.lr_step, softmax.backbone_lr_mult, softmax.weight_decay) == (
        "sgd", "random", 0.05, 8, 5, 0.3, 1e-3)
    triplet = triplet_recipe(parsed(TripletOptions, **shared, triplet={
        "lr": 3e-4, "p": 5, "k": 3, "identity_epochs": False}))
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


def test_each_method_holds_exactly_the_sections_it_reads():
    softmax, triplet, zero_padding = (set(declared_fields(c)) for c in (
        SoftmaxOptions, TripletOptions, ZeroPaddingOptions))
    assert "softmax" in softmax and "triplet" not in softmax
    assert "triplet" in triplet and "softmax" not in triplet
    assert "zero_padding_channels" in declared_fields(ZeroPaddingOptions)["network"]
    assert "zero_padding_channels" not in declared_fields(SoftmaxOptions)["network"]
    assert "zero_padding_eval" not in declared_fields(SoftmaxOptions)["reproduction"]
    distillation = declared_fields(DistillationOptions)
    assert not {"softmax", "triplet", "augmentation", "selection"} & set(distillation)
    assert zero_padding == softmax


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
    if "triplet_epoch" in flat:
        flat["triplet_epoch"] = "identities" if flat["triplet_epoch"] else "images"
    if "triplet.weight_decay" in rest:
        flat["weight_decay"] = rest.pop("triplet.weight_decay")
    return flat, rest


def test_paper_profile_resolves_to_the_settings_it_had_in_the_flat_layout():
    """``tests/data/paper_flat_options.json``: each deep method's options as
    ``rgbd-bench run --profile paper --dry-run --json`` printed them before the sections."""
    before = json.loads((Path(__file__).parent / "data" / "paper_flat_options.json")
                        .read_text())
    paper = load_profile("paper")
    for method, flat_before in before.items():
        options = resolved_options(paper, method)
        flat, new_only = flat_layout(options)
        # each method now holds only what it reads: the rest of the flat layout is gone
        assert flat and flat == {k: v for k, v in flat_before.items() if k in flat}, method
        unread = set(flat_before) - set(flat)
        assert ("softmax_lr" in unread) == ("softmax" not in options), method
        assert ("triplet_lr" in unread) == ("triplet" not in options), method
        assert ("zero_padding_channels" in unread) == (method != "zero-padding"), method
        # constants of the flat layout's code, now fields: SGD momentum, G's erasing
        assert new_only == ({"step2.augmentation.erasing": 0.0} if "step2" in options
                            else {"softmax.momentum": 0.9} if "softmax" in options
                            else {}), method

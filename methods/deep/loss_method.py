"""A deep method whose novelty is its loss, written as one class.

A :class:`LossMethod` names its network (the built-in one-stream or single-modal
network, or its own ``build_network``), its batches (:attr:`LossMethod.sampler`), its
loss as a function of a batch's network outputs, labels and modality codes, and its
hyperparameters as a nested dataclass, ``Hyperparameters``. Those fields join the
deep sections it trains with (``[options.deep.*]`` and its recipe's) in its ``Options``,
set in the method's own ``[options.<name>]`` table; its options and code (fingerprinted)
key its network, so no engine, recipe or key is written by hand. This is the shape of
open-reid's ``Trainer._forward`` (``open-reid/reid/trainers.py:199-210``: outputs of the
model, then the criterion) and of torchreid's loss class plus engine.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, ClassVar

import torch
from torch import nn

from methods.core.context import TaskContext
from methods.core.matcher import CROSS_MODAL, DEPTH_ONLY, RGB_ONLY
from methods.deep.baselines import (
    DeepMethod,
    NetworkSpec,
    new_network,
    softmax_recipe,
    triplet_recipe,
)
from methods.deep.engine import SAMPLERS, TrainConfig
from methods.deep.inputs import MODALITY_CODES, Batch
from methods.deep.networks import ReidNetwork
from methods.deep.option_sections import DeepOptions, SoftmaxOptions, TripletOptions

RECIPES = {"softmax": (SoftmaxOptions, softmax_recipe),
           "triplet": (TripletOptions, triplet_recipe)}
PK_SAMPLERS = ("identity", "paired")


@dataclasses.dataclass(frozen=True)
class NoHyperparameters:
    """A loss without hyperparameters."""


def loss_options(name: str, recipe: str, hyperparameters: type) -> type:
    """The ``Options`` of a loss method: the deep sections and the ``recipe``'s section
    (:data:`RECIPES`), then the fields of ``hyperparameters`` at the top level, checked
    by ``hyperparameters``' own ``__post_init__`` when the options are built."""
    base = RECIPES[recipe][0]
    hints = typing.get_type_hints(hyperparameters)
    own = dataclasses.fields(hyperparameters)
    taken = {f.name for f in dataclasses.fields(base)} & {f.name for f in own}
    if taken:
        raise TypeError(f"{name}.Hyperparameters: {sorted(taken)} name option sections; "
                        f"choose other names")
    fields = [(f.name, hints[f.name],
               dataclasses.field(default=f.default, default_factory=f.default_factory))
              for f in own]

    def __post_init__(self: Any) -> None:
        base.__post_init__(self)
        hyperparameters(**{f.name: getattr(self, f.name) for f in own})

    return dataclasses.make_dataclass(f"{name}Options", fields, bases=(base,), frozen=True,
                                      namespace={"__post_init__": __post_init__})


class LossMethod(DeepMethod):
    """A deep method defined by its loss; subclasses set the class attributes below and
    define :meth:`loss`.

    Class attributes:
        modalities: the training images: both (``("rgb", "depth")``, one network shared
            by both modalities, evaluated cross-modally) or one (a single-modal network).
        head: the built-in network's head: ``"softmax"`` (outputs: embedding, logits) or
            ``"triplet"`` (embedding, ``None``); ``build_network`` may build another.
        recipe: the optimiser and schedule it trains by, ``"softmax"`` (SGD,
            ``[options.deep.softmax]``) or ``"triplet"`` (Adam, ``[options.deep.triplet]``).
        sampler: its batches (:data:`methods.deep.engine.SAMPLERS`): ``"random"``,
            ``"identity"`` (P x K), ``"paired"`` (P identities x K time steps in both
            modalities) or ``"alternating"`` (batches of one modality, in turns). P and
            K are the hyperparameters ``p`` and ``k`` where it declares them, else the
            triplet recipe's.
        modality_input: the network takes the batch's modality codes as its second
            argument (a network with modality-specific layers); embedding passes the
            codes of the modality embedded.
        Hyperparameters: a frozen dataclass of the loss's own settings; its fields are
            options of ``[options.<name>]`` and part of the network's key. The instance
            of the task's values is :attr:`hyper`.
    """

    modalities: ClassVar[tuple[str, ...]] = ("rgb", "depth")
    head: ClassVar[str] = "softmax"
    recipe: ClassVar[str] = "softmax"
    sampler: ClassVar[str] = "random"
    modality_input: ClassVar[bool] = False
    Hyperparameters: ClassVar[type] = NoHyperparameters

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.sampler not in SAMPLERS or cls.recipe not in RECIPES:
            raise TypeError(f"{cls.__name__}: sampler must be one of {SAMPLERS}, recipe "
                            f"one of {tuple(RECIPES)}")
        declared = {f.name for f in dataclasses.fields(cls.Hyperparameters)}
        if cls.sampler in PK_SAMPLERS and cls.recipe != "triplet" and \
                not {"p", "k"} <= declared:
            raise TypeError(f"{cls.__name__}: a {cls.sampler!r} sampler with the softmax "
                            f"recipe needs hyperparameters p and k")
        if "Options" not in vars(cls):
            cls.Options = loss_options(cls.__name__, cls.recipe, cls.Hyperparameters)
        if "spec" not in vars(cls):
            cls.spec = NetworkSpec(tuple(cls.modalities), cls.__name__)
        if "settings" not in vars(cls):
            cls.settings = {("rgb",): RGB_ONLY, ("depth",): DEPTH_ONLY}.get(
                tuple(cls.modalities), CROSS_MODAL)

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        super().__init__(context, **options)
        self.hyper = self.Hyperparameters(**{
            f.name: getattr(self.options, f.name)
            for f in dataclasses.fields(self.Hyperparameters)})

    def loss(self, outputs: Any, labels: torch.Tensor, modalities: torch.Tensor
             ) -> torch.Tensor:
        """One batch's loss from the network's ``outputs`` on it, its (b,) identity
        ``labels`` and (b,) ``modalities`` (:data:`~methods.deep.inputs.MODALITY_CODES`),
        all on the training device."""
        raise NotImplementedError

    def build_network(self, num_classes: int, pretrained: str) -> ReidNetwork:
        """The built-in network of :attr:`modalities` with :attr:`head`."""
        options: DeepOptions = self.options
        dropout = options.softmax.dropout if self.recipe == "softmax" else 0.0
        return new_network(self.spec, options, self.head, num_classes, pretrained,
                           dropout if self.head == "softmax" else 0.0)

    def train_config(self) -> TrainConfig:
        config = RECIPES[self.recipe][1](self.options)
        batches: dict[str, Any] = {"sampler": self.sampler}
        if self.sampler in PK_SAMPLERS and hasattr(self.hyper, "p"):
            batches.update(p=self.hyper.p, k=self.hyper.k)
        return dataclasses.replace(config, **batches)

    def engine_options(self) -> dict[str, Any]:
        return {"loss": self.step_loss}

    def step_loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """The loss of one training batch: :meth:`loss` of ``model``'s outputs."""
        if self.modality_input:
            outputs = model(batch.inputs, batch.modalities)
        else:
            outputs = model(batch.inputs)
        return self.loss(outputs, batch.labels, batch.modalities)

    def forward(self, network: nn.Module, inputs: torch.Tensor, modality: str
                ) -> torch.Tensor:
        if not self.modality_input:
            return network(inputs)[0]
        codes = torch.full((len(inputs),), MODALITY_CODES[modality], device=inputs.device)
        return network(inputs, codes)[0]

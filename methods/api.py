"""The public plugin API: everything a method plugin may import, and nothing else.

A plugin imports from here only (``from methods.api import ...``); the names below keep
their meaning across releases, the modules behind them may move. See the README,
"Adding a method" and "How a deep method is built".

Matchers and registration:
    Matcher, register, CROSS_MODAL, RGB_ONLY, DEPTH_ONLY, TaskContext, ConfigError.
Deep methods (one trained network per fold, trained or loaded once):
    DeepMethod (hooks: spec, engine, build_network, train_config, engine_options,
    forward, unread_options; SOFTMAX_OPTIONS and TRIPLET_OPTIONS name each built-in
    recipe's options), SoftmaxNetwork, TripletNetwork, DeepOptions (the ``[options.deep]``
    section; a plugin's own section subclasses it), NetworkSpec, ReidNetwork (a network
    with another head overrides ``forward_pooled``, what follows the pooled trunk, not
    ``forward``, so that it can be fed fixed-stage outputs), build_network, Backbone.
Training steps and recipes:
    Engine (override ``compute_loss``, calling ``self.model`` on the batch's inputs;
    ``learning_rate`` and ``make_sampler`` for another schedule or batch composition),
    TrainConfig, engine_config (a recipe with the
    ``[options.deep]`` numerics), schedule_and_selection, softmax_recipe, triplet_recipe,
    Augmentation, Batch, SampleSet, MODALITY_CODES.
Losses and samplers:
    batch_hard_triplet_loss, weighted_regularized_triplet_loss, pairwise_distances,
    IdentityBatches, RandomBatches.
"""

from benchmark.errors import ConfigError
from methods.augment import Augmentation
from methods.backbone import Backbone
from methods.base import CROSS_MODAL, DEPTH_ONLY, RGB_ONLY, Matcher
from methods.context import TaskContext
from methods.deep import (
    SOFTMAX_OPTIONS,
    TRIPLET_OPTIONS,
    DeepMethod,
    DeepOptions,
    NetworkSpec,
    SoftmaxNetwork,
    TripletNetwork,
    engine_config,
    schedule_and_selection,
    softmax_recipe,
    triplet_recipe,
)
from methods.deep_data import MODALITY_CODES, Batch, SampleSet
from methods.engine import Engine, TrainConfig
from methods.losses import (
    batch_hard_triplet_loss,
    pairwise_distances,
    weighted_regularized_triplet_loss,
)
from methods.networks import ReidNetwork, build_network
from methods.registry import register
from methods.samplers import IdentityBatches, RandomBatches

__all__ = [
    "CROSS_MODAL", "DEPTH_ONLY", "MODALITY_CODES", "RGB_ONLY", "SOFTMAX_OPTIONS",
    "TRIPLET_OPTIONS", "Augmentation", "Backbone",
    "Batch", "ConfigError", "DeepMethod", "DeepOptions", "Engine", "IdentityBatches",
    "Matcher", "NetworkSpec", "RandomBatches", "ReidNetwork", "SampleSet",
    "SoftmaxNetwork", "TaskContext", "TrainConfig", "TripletNetwork",
    "batch_hard_triplet_loss", "build_network", "engine_config", "pairwise_distances",
    "register", "schedule_and_selection", "softmax_recipe", "triplet_recipe",
    "weighted_regularized_triplet_loss",
]

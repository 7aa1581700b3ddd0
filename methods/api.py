"""The public plugin API: everything a method plugin may import, and nothing else.

A plugin imports from here only (``from methods.api import ...``); the names below keep
their meaning across releases, the modules behind them may move. See the README,
"Adding a method" and "How a deep method is built".

Matchers and registration:
    Matcher, register, CROSS_MODAL, RGB_ONLY, DEPTH_ONLY, TaskContext, ConfigError.
Deep methods (one trained network per fold, trained or loaded once):
    DeepMethod (hooks: spec, engine, build_network, train_config, engine_options,
    forward; its ``Options`` hold the sections it reads, and with its code, fingerprinted
    automatically, they key its network), SoftmaxNetwork,
    TripletNetwork, NetworkSpec, ReidNetwork (a network with another head overrides
    ``forward_pooled``, what follows the pooled trunk, not ``forward``, so that it can be
    fed fixed-stage outputs), build_network, Backbone.
Option sections (``[options.deep.<section>]``):
    DeepOptions (one field per section; a plugin adds its recipe's section by
    subclassing it), SoftmaxOptions, TripletOptions, speed_only (a field that cannot
    change a number, kept out of every key), NetworkOptions, SelectionOptions,
    SoftmaxRecipe, TripletRecipe, NumericsOptions, ComputeOptions, ReproductionOptions,
    Augmentation; engine_fields (a section's fields named as the engine's settings).
Training steps and recipes:
    Engine (give it ``loss(model, batch)`` or override ``compute_loss``, calling
    ``self.model`` on the batch's inputs; a ``sampler`` setting of the config picks
    random, P x K, paired P x K or alternating batches;
    ``learning_rate`` and ``make_sampler`` for another schedule or batch composition),
    TrainConfig (``DeepOptions.engine_config(recipe)`` builds it from a recipe section),
    softmax_recipe, triplet_recipe, Batch, SampleSet, MODALITY_CODES.
A loss is one class:
    LossMethod (sets ``modalities``, ``head``, ``recipe``, ``sampler``,
    ``modality_input`` and a nested ``Hyperparameters`` dataclass, whose fields are
    options of its ``[options.<name>]`` table and part of its key, and defines
    ``loss(outputs, labels, modalities)``; ``build_network`` for a network of its own).
Losses and samplers:
    batch_hard_triplet_loss, weighted_regularized_triplet_loss, pairwise_distances,
    IdentityBatches, RandomBatches, PairedIdentityBatches, AlternatingBatches
    (``Batch.modalities`` holds each sample's code, on the training device).
Teacher-student methods (a student network learning from other methods' trained networks):
    TeacherStudent (declares its ``teachers``, receives them trained and frozen; hooks:
    build_student, student_loss, train_config, teacher_targets, student_training_frames,
    validation_settings, student_meta), TeacherStudentEngine, PairedFrames,
    NetworkTaskOptions (the sections every network-running method reads),
    check_training_input, toy_frames (tiny random paired frames for a method's tests);
    distillation students: StudentNetwork, frozen_modules,
    resolve_freeze_point, check_freeze_point, distillation_loss, DISTILLATION_REDUCTIONS.
Handcrafted features and cross-view metrics (every feature is paired with every metric
that fits its views, as the method ``<feature>-<metric>``; entry-point groups
``rgbd_bench.features`` and ``rgbd_bench.metrics``):
    Feature, register_feature, modality_option, CrossViewMetric, register_metric,
    PairedViews, NotFittedError, mahalanobis_distance.
Backbones and heads (each also found through an entry-point group:
``rgbd_bench.backbones``, ``rgbd_bench.heads``):
    register_backbone (a Backbone subclass, built as ``cls(arch)``), register_head (a
    builder ``(pooled width, class count, embedding size, dropout) -> module``),
    freeze_point (the trunk module a stage shorthand names for an architecture).
Cost:
    measure_training_speed (images/s of one network's training steps here, which the
    ``speed`` command and the GPU sizing script report).

Data sets belong to the harness, not to methods: a data-set plugin subclasses
``benchmark.datasets.base.Dataset`` and registers with ``register_dataset`` there or
through the entry-point group ``rgbd_bench.datasets``.
"""

from methods.core.context import TaskContext
from methods.core.errors import ConfigError
from methods.core.frames import PairedFrames, toy_frames
from methods.core.identity import speed_only
from methods.core.matcher import CROSS_MODAL, DEPTH_ONLY, RGB_ONLY, Matcher
from methods.core.registry import register
from methods.deep.augment import Augmentation
from methods.deep.backbones.families import freeze_point, register_backbone
from methods.deep.backbones.interface import Backbone
from methods.deep.baselines import (
    DeepMethod,
    NetworkSpec,
    SoftmaxNetwork,
    TripletNetwork,
    softmax_recipe,
    triplet_recipe,
)
from methods.deep.engine import Engine, TrainConfig
from methods.deep.inputs import MODALITY_CODES, Batch, SampleSet
from methods.deep.loss_method import LossMethod
from methods.deep.losses import (
    batch_hard_triplet_loss,
    pairwise_distances,
    weighted_regularized_triplet_loss,
)
from methods.deep.networks import ReidNetwork, build_network, register_head
from methods.deep.option_sections import (
    ComputeOptions,
    DeepOptions,
    NetworkOptions,
    NetworkTaskOptions,
    NumericsOptions,
    ReproductionOptions,
    SelectionOptions,
    SoftmaxOptions,
    SoftmaxRecipe,
    TripletOptions,
    TripletRecipe,
    engine_fields,
)
from methods.deep.samplers import (
    AlternatingBatches,
    IdentityBatches,
    PairedIdentityBatches,
    RandomBatches,
)
from methods.deep.training_speed import measure_training_speed
from methods.handcrafted.cross_view import (
    CrossViewMetric,
    NotFittedError,
    PairedViews,
    register_metric,
)
from methods.handcrafted.features import Feature, modality_option, register_feature
from methods.handcrafted.xqda import mahalanobis_distance
from methods.teacher_student.distillation_parts import (
    DISTILLATION_REDUCTIONS,
    StudentNetwork,
    check_freeze_point,
    distillation_loss,
    frozen_modules,
    resolve_freeze_point,
)
from methods.teacher_student.framework import (
    TeacherStudent,
    TeacherStudentEngine,
    check_training_input,
)

__all__ = [
    "CROSS_MODAL", "DEPTH_ONLY", "DISTILLATION_REDUCTIONS", "MODALITY_CODES", "RGB_ONLY",
    "AlternatingBatches", "Augmentation", "Backbone", "Batch", "ComputeOptions", "ConfigError",
    "CrossViewMetric", "DeepMethod", "DeepOptions", "Engine", "Feature", "IdentityBatches",
    "LossMethod", "Matcher", "NetworkOptions", "NetworkSpec", "NetworkTaskOptions",
    "NotFittedError", "NumericsOptions", "PairedFrames", "PairedIdentityBatches", "PairedViews",
    "RandomBatches", "ReidNetwork", "ReproductionOptions", "SampleSet", "SelectionOptions",
    "SoftmaxNetwork", "SoftmaxOptions", "SoftmaxRecipe", "StudentNetwork", "TaskContext",
    "TeacherStudent", "TeacherStudentEngine", "TrainConfig", "TripletNetwork", "TripletOptions",
    "TripletRecipe", "batch_hard_triplet_loss", "build_network", "check_freeze_point",
    "check_training_input", "distillation_loss", "engine_fields", "freeze_point", "frozen_modules",
    "mahalanobis_distance", "measure_training_speed", "modality_option", "pairwise_distances",
    "register", "register_backbone", "register_feature", "register_head", "register_metric",
    "resolve_freeze_point", "softmax_recipe", "speed_only", "toy_frames", "triplet_recipe",
    "weighted_regularized_triplet_loss",
]

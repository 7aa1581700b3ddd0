"""Teacher-student methods: a network that learns from the trained networks of other methods.

A teacher-student method names the registered deep methods whose networks it needs
(:attr:`TeacherStudent.teachers`, e.g. ``("resnet-depth-softmax",)``: the step-I depth
softmax network of the same fold). They reach it trained, each as the run's plan
resolved its task (options, seed and training key, through ``requires`` and
``TaskContext.input``: the very network that task stored, loaded, never trained twice),
frozen (no parameter takes a gradient), in eval mode and on the task's device. The
method then says what its own network, the *student*, learns: how it is built from the
teachers, on which modalities and frames it trains, its loss per batch given the
teachers' outputs on the batch's frames, and its recipe. Training or loading (the
task's training key, lock, seeded initialisation, atomic checkpoint), epochs, model
selection on the validation identities and the store of fixed-stage outputs live
beneath it (:func:`methods.deep.trained.load_or_train`, :class:`methods.deep.engine.Engine`).

The pattern is fast-reid's ``Distiller(Baseline)`` (``fastreid/modeling/meta_arch/
distiller.py``): the framework builds, loads and freezes the teacher; the method says
what the student learns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from methods.core.context import TaskContext
from methods.core.errors import ConfigError
from methods.core.frames import PairedFrames
from methods.core.matcher import Matcher
from methods.core.registry import get_method
from methods.deep.augment import Augmentation
from methods.deep.baselines import DeepMethod, NetworkSpec, network_pipeline, stored_crops_for
from methods.deep.engine import Engine, TrainConfig
from methods.deep.inputs import Batch, Pipeline, SampleSet, embed_images
from methods.deep.model_selection import Validation
from methods.deep.networks import ReidNetwork
from methods.deep.option_sections import NetworkTaskOptions, check_cacheable, check_crop_source
from methods.deep.trained import load_or_train, torch_threads

Outputs = tuple[torch.Tensor, ...]
StudentLoss = Callable[[Outputs, Outputs, Batch], torch.Tensor]


def freeze(network: nn.Module) -> nn.Module:
    """``network`` in eval mode with every parameter excluded from autograd."""
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    return network.eval()


def check_training_input(options: NetworkTaskOptions, augmentation: Augmentation) -> None:
    """Raise :class:`ConfigError` unless a network with ``options`` can be trained on
    inputs augmented by ``augmentation`` (the crop source and the fixed-stage store)."""
    check_crop_source(options.network, augmentation.crop, options.compute.cache_fixed_stages)
    if options.compute.cache_fixed_stages:
        check_cacheable(options.network.train_from, augmentation)


class TeacherStudentEngine(Engine):
    """Trains the student by ``loss(outputs, targets, batch)``: the student's outputs on the
    batch, and each teacher's target for the batch's frames.

    ``targets[j][i]`` is teacher ``j``'s output for row ``i`` of the frames; a batch's
    targets are looked up by its samples' rows (the same time step in every modality).
    """

    def __init__(self, *args: Any, targets: Outputs, loss: StudentLoss, **kwargs: Any
                 ) -> None:
        super().__init__(*args, **kwargs)
        self.targets = tuple(t.to(self.pipeline.device) for t in targets)
        self.loss = loss

    def compute_loss(self, batch: Batch) -> torch.Tensor:
        outputs = self.model(batch.inputs)
        rows = torch.from_numpy(self.samples.rows[batch.index]).to(self.pipeline.device)
        return self.loss(outputs, tuple(t[rows] for t in self.targets), batch)


class StudentValidator:
    """Sum of the validation mAPs of ``settings``, each modality embedded by its network:
    a frozen one's (``fixed``) once, the student's at every call.

    The protocol is :class:`methods.deep.model_selection.Validation`'s.
    """

    def __init__(self, fixed: dict[str, nn.Module], pipeline: Pipeline,
                 validation: Validation, settings: tuple[tuple[str, str], ...],
                 batch_size: int = 256, amp: bool = False) -> None:
        self.validation, self.settings = validation, settings
        self.pipeline, self.batch_size, self.amp = pipeline, batch_size, amp
        self.fixed = {m: self._embed(network, m) for m, network in fixed.items()}

    def _embed(self, network: nn.Module, modality: str) -> np.ndarray:
        return embed_images(network, self.pipeline, self.validation.val.images(modality),
                            modality, self.batch_size, self.amp)

    def __call__(self, student: nn.Module) -> float:
        modalities = dict.fromkeys(m for setting in self.settings for m in setting)
        embeddings = {m: self.fixed[m] if m in self.fixed else self._embed(student, m)
                      for m in modalities}
        return float(sum(self.validation.scores(embeddings, self.settings)))


class TeacherStudent(Matcher):
    """A matcher whose network (the student) learns from the frozen networks of others.

    Hooks a method sets or overrides:
        teachers: the registered deep methods whose trained networks it needs; with
            ``seed_method`` they make its ``requires``, so the plan runs them first.
        student_modalities: the modalities the student trains on.
        teacher_embeds: modality -> teacher whose network embeds it at validation and test
            (the other modalities: the student).
        Options: a :class:`~methods.deep.option_sections.NetworkTaskOptions` subclass with the
            sections the student reads (its recipe among them); they, its code, its
            teachers' tasks, data and seed key the student.
        build_student: the student network, from :attr:`teacher_networks`.
        student_loss: one batch's loss from the student's outputs and the teachers'
            targets of the batch's frames.
        teacher_targets: each teacher's targets of the training frames (default: its
            embeddings of the frames in its own modality, unaugmented, eval mode).
        train_config: the engine's settings (optimiser, schedule, batches, augmentation).
        student_training_frames: the frames the student learns on (default: ``train``).
        validation_settings: the (query, gallery) pairs whose summed validation mAP
            selects the student's epoch (default: :attr:`settings`).
        student_meta: what the checkpoint records beside the training history.
        artifact_kind: the artifact store's folder of its students.

    After :meth:`fit`: :attr:`teacher_networks` and :attr:`teacher_checkpoints` by method,
    :attr:`student` (eval mode, on the device) and its :attr:`checkpoint`.
    """

    option_group: ClassVar[str | tuple[str, ...] | None] = "deep"
    Options: ClassVar[type] = NetworkTaskOptions
    teachers: ClassVar[tuple[str, ...]] = ()
    student_modalities: ClassVar[tuple[str, ...]] = ("rgb", "depth")
    teacher_embeds: ClassVar[dict[str, str]] = {}
    artifact_kind: ClassVar[str] = "student-network"
    checkpoint_name: ClassVar[str] = "student.pt"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "requires" not in vars(cls):
            cls.requires = tuple(dict.fromkeys(
                (*cls.teachers, *((cls.seed_method,) if cls.seed_method else ()))))

    def __init__(self, context: TaskContext | None = None, **options: Any) -> None:
        super().__init__(context, **options)
        self.teacher_networks: dict[str, ReidNetwork] = {}
        self.teacher_checkpoints: dict[str, Path] = {}
        self.student: ReidNetwork | None = None
        self.checkpoint: Path | None = None

    @property
    def teacher(self) -> ReidNetwork:
        """The first teacher's network (after :meth:`fit`)."""
        return self.teacher_networks[self.teachers[0]]

    @property
    def teacher_checkpoint(self) -> Path:
        """The first teacher's checkpoint file (after :meth:`fit`)."""
        return self.teacher_checkpoints[self.teachers[0]]

    def build_student(self) -> ReidNetwork:
        """A new student network (its weights may start from the teachers')."""
        raise NotImplementedError

    def student_loss(self, outputs: Outputs, targets: Outputs, batch: Batch) -> torch.Tensor:
        """The loss of one batch: the student's ``outputs`` on ``batch.inputs`` and, for
        each teacher in :attr:`teachers` order, its targets of the batch's frames."""
        raise NotImplementedError

    def train_config(self) -> TrainConfig:
        """The engine settings of the student's training."""
        raise NotImplementedError

    def student_meta(self, student: ReidNetwork) -> dict[str, Any]:
        """What the student's checkpoint records beside its key and training history."""
        return {}

    def validation_settings(self) -> tuple[tuple[str, str], ...]:
        """The settings whose summed validation mAP selects the student's epoch."""
        return self.settings

    def student_training_frames(self, train: PairedFrames) -> PairedFrames:
        """The frames the student learns on."""
        return train

    def teacher_method(self, name: str) -> DeepMethod:
        """The deep method ``name`` as the run's plan resolved its task on this fold
        (options, seed, training key: :meth:`TaskContext.input`), so its network is that
        task's whatever sections set it; outside a run (no declared input) its defaults
        with the fields of these options it declares, and the seed its task would get."""
        cls = get_method(name)
        if not issubclass(cls, DeepMethod):
            raise ConfigError(f"{self.name}: teacher {name!r} is not a deep method")
        key = None
        if name in self.context.inputs:
            given, seed = self.context.input(name).options, self.context.input(name).seed
            key = self.context.input(name).training_key
        else:
            given, seed = dataclasses.asdict(self.options), self.context.seed_of(name)
        context = dataclasses.replace(self.context, seed=seed, task_key=key, force=False,
                                      inputs={})
        return cls.from_offered(context, **given)

    def student_seed(self) -> int:
        """The seed of the student's training: this task's, or its ``seed_method``'s task's."""
        if self.seed_method is None:
            return self.context.seed
        return self.context.input(self.seed_method).seed

    def teacher_targets(self, frames: PairedFrames, pipeline: Pipeline) -> Outputs:
        """Each teacher's embeddings of ``frames`` in the one modality it was trained on."""
        amp, targets = self.options.autocast(self.context.device), []
        for name, network in self.teacher_networks.items():
            (modality,) = get_method(name).spec.modalities
            targets.append(torch.from_numpy(embed_images(
                network, pipeline, frames.images(modality), modality,
                self.options.compute.eval_batch_size, amp)))
        return tuple(targets)

    def fit(self, train: PairedFrames, val: PairedFrames) -> TeacherStudent:
        with self.options.precision():
            for name in self.teachers:
                network, path = self.teacher_method(name).train_or_load(train, val)
                self.teacher_networks[name] = freeze(network)
                self.teacher_checkpoints[name] = path
            self.student, self.checkpoint = self._student(train, val)
        return self

    def _student(self, train: PairedFrames, val: PairedFrames) -> tuple[ReidNetwork, Path]:
        learn_on = self.student_training_frames(train)
        seed = self.student_seed()
        key = self.training_key(train, val)
        threads = torch.get_num_threads()

        def build(meta: dict[str, Any] | None) -> ReidNetwork:
            return self.build_student()

        def fit(student: ReidNetwork) -> tuple[ReidNetwork, dict[str, Any]]:
            result = self._train(student, learn_on, val, seed, threads)
            return student, {"key": key, **self.student_meta(student), "result": result}

        folder = self.context.artifact_dir(self.artifact_kind, {"task": key})
        student, path = load_or_train(folder, self.checkpoint_name, build, fit, seed,
                                      self.context.device, self.options.compute.num_threads,
                                      force=self.context.forced_once(folder))
        return student.to(self.context.device).eval(), path

    def _train(self, student: ReidNetwork, train: PairedFrames, val: PairedFrames,
               seed: int, threads: int) -> dict[str, Any]:
        """Train the student (within :func:`~methods.deep.trained.load_or_train`'s seeded
        block); the teachers' targets are computed with the caller's ``threads``, as the
        validation embeddings are."""
        options, device = self.options, self.context.device
        pipeline = network_pipeline(NetworkSpec(self.student_modalities, "student"), options,
                                    student, device,
                                    stored=stored_crops_for(options, self.context),
                                    context=self.context)
        with torch_threads(threads):
            targets = self.teacher_targets(train, pipeline)
        fixed = {m: self.teacher_networks[name] for m, name in self.teacher_embeds.items()}
        validate = StudentValidator(fixed, pipeline,
                                    Validation(val, options.reproduction.validation, seed),
                                    self.validation_settings(),
                                    options.compute.eval_batch_size, options.autocast(device))
        engine = TeacherStudentEngine(student, SampleSet.of(train, self.student_modalities),
                                      pipeline, self.train_config(), seed=seed,
                                      validate=validate, quiet=self.context.quiet,
                                      targets=targets, loss=self.student_loss)
        return engine.fit().to_dict()

    def embedding_network(self, modality: str) -> ReidNetwork:
        """The network that embeds ``modality``: its teacher's or the student."""
        if self.student is None:
            raise RuntimeError(f"{self.name}: call fit() before embed()")
        modalities = {m for setting in self.settings for m in setting}
        if modality not in modalities:
            raise ValueError(f"{self.name}: unknown modality {modality!r}")
        if modality in self.teacher_embeds:
            return self.teacher_networks[self.teacher_embeds[modality]]
        return self.student

    def embed(self, images: np.ndarray, modality: str) -> np.ndarray:
        network = self.embedding_network(modality)
        device = self.context.device
        pipeline = network_pipeline(NetworkSpec((modality,), "student"), self.options,
                                    network, device, context=self.context)
        with self.options.precision():
            return embed_images(network, pipeline, images, modality,
                                self.options.compute.eval_batch_size,
                                amp=self.options.autocast(device))

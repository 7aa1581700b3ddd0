"""The `paper` profile down to the numerics: fp32, TF32 off, the authors' crop and resize,
their batch sizes (what the engine and the pipelines actually do)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import parsed, toy_frames
from PIL import Image

from benchmark.datasets.authors_splits import image_name
from benchmark.datasets.base import get_dataset, stored_crops
from benchmark.datasets.prepared import read_prepared_pair
from benchmark.runs.config import load_profile
from benchmark.runs.planner import resolved_options
from methods.core.registry import get_method
from methods.core.resize import pil_bilinear
from methods.core.stored_crops import StoredCrops
from methods.deep import engine as engine_module
from methods.deep.augment import Augmentation, rect_crop_boxes
from methods.deep.baselines import DeepOptions, NetworkSpec, pipeline_for, train_config
from methods.deep.engine import SoftmaxEngine, float32_precision
from methods.deep.host_crops import HostCropPipeline
from methods.deep.inputs import InputEncoder, SampleSet
from methods.deep.networks import build_network
from methods.deep.option_sections import SoftmaxOptions, TripletOptions
from methods.deep.samplers import RandomBatches
from methods.distillation import DistillationOptions
from methods.teacher_student.distillation_parts import distillation_loss
from methods.teacher_student.framework import TeacherStudentEngine

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BIWI_SAMPLE = Path("/work/shared/datasets/biwi_sample/Training/000")
SMALL = {"arch": "resnet10", "height": 16, "width": 8}


def paper_configs(profile_name: str):
    """(method, options, TrainConfig) of every deep task of a profile."""
    profile = load_profile(profile_name)
    for method in profile.run.methods:
        cls = get_method(method)
        if cls.option_group == "deep":
            options = parsed(cls.Options, **resolved_options(profile, method))
            yield method, options, train_config(cls.spec, options)
        elif isinstance(cls.option_group, tuple):
            options = parsed(DistillationOptions, **resolved_options(profile, method))
            yield method, options, options.train_config()


@pytest.mark.parametrize("profile", ["paper", "paper-corrected"])
def test_every_deep_task_of_the_paper_profiles_trains_in_true_fp32(profile):
    configs = list(paper_configs(profile))
    assert len(configs) == 10
    for method, options, config in configs:
        assert (options.numerics.amp, options.numerics.tf32) == (False, False), method
        assert (config.amp, config.tf32) == (False, False), method
        assert not engine_module.autocast_enabled(config.amp, "cuda"), method


def summed_squared_error(outputs, targets, batch):
    """Step II's loss with the authors' reduction."""
    return distillation_loss(outputs[0], targets[0], "sum")


def test_step_two_training_step_takes_autocast_from_the_amp_option(monkeypatch):
    # As on a GPU: the engine's own decision with a CUDA device, the CPU step spied on.
    decide = engine_module.autocast_enabled
    monkeypatch.setattr(engine_module, "autocast_enabled", lambda amp, device: decide(amp, "cuda"))
    seen = []

    def spy(device_type, dtype=None, enabled=True, **kwargs):
        seen.append((enabled, dtype))
        return contextlib.nullcontext()

    frames = toy_frames(identities=3, per_identity=4, size=(16, 8))
    samples = SampleSet.of(frames, ("rgb",))
    targets = torch.randn(len(frames), 128)
    for amp in (False, True):
        options = parsed(DistillationOptions, network=SMALL, numerics={"amp": amp},
                         step2={"augmentation": {"crop": "none"}, "batch_size": 4})
        pipeline = pipeline_for(NetworkSpec(("rgb",), "softmax"), options, "cpu")
        engine = TeacherStudentEngine(build_network("resnet10", "softmax", num_classes=3),
                                      samples, pipeline, options.train_config(), quiet=True,
                                      targets=(targets,), loss=summed_squared_error)
        batch = pipeline.train_batch(pipeline.read(samples, np.arange(4), False,
                                                   engine.config.augmentation,
                                                   np.random.default_rng(0)),
                                     engine.config.augmentation, np.random.default_rng(0))
        monkeypatch.setattr(torch, "autocast", spy)
        engine.train_step(batch)
        monkeypatch.undo()
        monkeypatch.setattr(engine_module, "autocast_enabled",
                            lambda amp, device: decide(amp, "cuda"))
    assert seen == [(False, torch.bfloat16), (True, torch.bfloat16)]


@pytest.fixture
def tf32_switches():
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    before = (matmul.allow_tf32, cudnn.allow_tf32)
    yield lambda: (matmul.allow_tf32, cudnn.allow_tf32)
    matmul.allow_tf32, cudnn.allow_tf32 = before


def set_switches(value: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = value


def test_tf32_is_off_inside_a_block_and_restored_after(tf32_switches):
    set_switches(True)
    with float32_precision(amp=False, tf32=False):
        assert tf32_switches() == (False, False)
    assert tf32_switches() == (True, True)
    set_switches(False)
    with float32_precision(amp=False, tf32=True):
        assert tf32_switches() == (True, True)
    assert tf32_switches() == (False, False)
    set_switches(True)
    with float32_precision(amp=True, tf32=False):  # autocast: left as it is
        assert tf32_switches() == (True, True)
    with pytest.raises(RuntimeError), float32_precision(amp=False, tf32=False):
        raise RuntimeError("restored on errors too")
    assert tf32_switches() == (True, True)


def test_training_and_validation_run_with_tf32_off_and_restore_it(tf32_switches):
    set_switches(True)
    frames = toy_frames(identities=3, per_identity=4, size=(16, 8))
    options = parsed(SoftmaxOptions, network=SMALL, selection={"epochs": 2, "eval_every": 1},
                     softmax={"batch_size": 4}, augmentation={"crop": "none"})
    spec = NetworkSpec(("rgb",), "softmax")
    during = []

    def validate(model):
        during.append(tf32_switches())
        return 0.0

    engine = SoftmaxEngine(build_network("resnet10", "softmax", num_classes=3),
                           SampleSet.of(frames, ("rgb",)), pipeline_for(spec, options, "cpu"),
                           train_config(spec, options), validate=validate, quiet=True)
    engine.fit()
    assert during == [(False, False)] * 2
    assert tf32_switches() == (True, True)
    with parsed(DeepOptions, network=SMALL, numerics={"tf32": True}).precision():
        assert tf32_switches() == (True, True)


def test_keeping_the_last_partial_batch_makes_each_epoch_one_pass():
    sampler = RandomBatches(10, 4, np.random.default_rng(0), drop_last=False)
    for _ in range(3):
        epoch = list(sampler.batches(3))
        assert [len(b) for b in epoch] == [4, 4, 2]
        assert sorted(np.concatenate(epoch).tolist()) == list(range(10))
    options = parsed(DistillationOptions, network=SMALL,
                     step2={"batch_size": 4, "drop_last": False, "epochs": 1,
                            "augmentation": {"crop": "none"}})
    frames = toy_frames(identities=2, per_identity=5, size=(16, 8))
    engine = TeacherStudentEngine(build_network("resnet10", "softmax", num_classes=2),
                                  SampleSet.of(frames, ("rgb",)),
                                  pipeline_for(NetworkSpec(("rgb",), "softmax"), options, "cpu"),
                                  options.train_config(), quiet=True,
                                  targets=(torch.zeros(10, 128),), loss=summed_squared_error)
    assert engine.iterations_per_epoch == 3
    assert engine.fit().steps == 3


def test_paper_batches_are_the_authors_published_commands():
    # aR:30/34: -batch-size 64 for step I; aR:52: --batch-size 16 for step II.
    profile = load_profile("paper")
    deep = parsed(SoftmaxOptions, **resolved_options(profile, "resnet-rgb-softmax"))
    triplet = parsed(TripletOptions, **resolved_options(profile, "resnet-rgb-triplet"))
    assert deep.softmax.batch_size == 64 and triplet.triplet.p * triplet.triplet.k == 64
    step2 = parsed(DistillationOptions,
                   **resolved_options(profile, "distill-depth2rgb-softmax"))
    config = step2.train_config()
    assert (config.batch_size, config.drop_last) == (16, False)
    assert (step2.network.crop_from, step2.network.resize) == ("stored", "pil-bilinear")
    assert profile.dataset["resize"] == "pil-bilinear"


# -- the authors' resize and crop --------------------------------------------------------

def synthetic_images(seed: int = 0):
    rng = np.random.default_rng(seed)
    for h, w in ((97, 41), (300, 150), (256, 128), (180, 95)):
        yield rng.integers(0, 256, (h, w, 3), dtype=np.uint8), \
            rng.integers(0, 256, (h, w), dtype=np.uint8)


def biwi_crops():
    """Person-sized crops of the sample BIWI frame, RGB and its depth as 8-bit grey."""
    rgb = cv2.cvtColor(cv2.imread(str(next(BIWI_SAMPLE.glob("*_rgb.jpg")))), cv2.COLOR_BGR2RGB)
    depth = cv2.imread(str(next(BIWI_SAMPLE.glob("*_depth.pgm"))), cv2.IMREAD_UNCHANGED)
    depth = cv2.resize(depth, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    grey = np.clip(depth.astype(np.float64) / 8000 * 255, 0, 255).astype(np.uint8)
    for top, left, h, w in ((40, 200, 380, 170), (100, 260, 211, 99), (0, 0, 240, 160)):
        yield rgb[top:top + h, left:left + w], grey[top:top + h, left:left + w]


def write_tree(root: Path, pairs) -> list[str]:
    names = []
    for folder in ("biwi", "biwi_depth"):
        (root / folder / "images").mkdir(parents=True, exist_ok=True)
    keys = [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 2, 0), (1, 0, 0), (4, 0, 0), (1, 0, 1)]
    for key, (rgb, grey) in zip(keys, pairs, strict=False):
        name = image_name(*key)
        Image.fromarray(rgb).save(root / "biwi" / "images" / name, quality=90)
        Image.fromarray(grey).save(root / "biwi_depth" / "images" / name, quality=90)
        names.append(name)
    return names


def pil_reference(path: Path, size: tuple[int, int]) -> np.ndarray:
    """The authors' test transform: PIL open, convert('RGB'), BILINEAR resize."""
    return np.asarray(Image.open(path).convert("RGB").resize(size[::-1], Image.BILINEAR))


@pytest.mark.skipif(not BIWI_SAMPLE.is_dir(), reason="needs the BIWI sample frame")
def test_prepared_pil_resize_equals_pils_output_on_biwi_and_synthetic_images(tmp_path):
    names = write_tree(tmp_path, [*biwi_crops(), *list(synthetic_images())[:3]])
    for name in names:
        rgb_path = tmp_path / "biwi" / "images" / name
        depth_path = tmp_path / "biwi_depth" / "images" / name
        for size in ((256, 128), (64, 32)):
            rgb, depth = read_prepared_pair(str(rgb_path), str(depth_path), size,
                                            "pil-bilinear")
            assert np.array_equal(rgb, pil_reference(rgb_path, size))
            reference = pil_reference(depth_path, size)  # depth .convert('RGB')'d
            assert depth.dtype == np.uint16
            for channel in range(3):
                assert np.array_equal(depth, reference[..., channel])
    dataset = get_dataset("biwi", root=str(tmp_path), workers=1, resize="pil-bilinear")
    frames = dataset.build((256, 128))
    assert np.array_equal(frames.rgb[0], pil_reference(tmp_path / "biwi" / "images" / names[0],
                                                       (256, 128)))


def test_pil_bilinear_of_synthetic_arrays_equals_pil_and_keeps_the_size():
    for (rgb, grey), size in zip(synthetic_images(1), ((256, 128), (64, 32), (50, 20),
                                                          (256, 128)), strict=True):
        assert np.array_equal(pil_bilinear(rgb, size), np.asarray(
            Image.fromarray(rgb).resize(size[::-1], Image.BILINEAR)))
        assert np.array_equal(pil_bilinear(grey, size), np.asarray(
            Image.fromarray(grey).convert("RGB").resize(size[::-1], Image.BILINEAR))[..., 1])
    same = np.arange(256 * 128 * 3, dtype=np.uint8).reshape(256, 128, 3)
    assert pil_bilinear(same, (256, 128)) is same  # RectScale returns it unchanged


def test_rect_crop_boxes_in_each_images_own_pixels():
    heights, widths = np.array([300, 97, 256, 180] * 50), np.array([150, 41, 128, 95] * 50)
    boxes = rect_crop_boxes(np.random.default_rng(0), len(heights), heights, widths)
    top, left, h, w = boxes.T
    assert np.all((top >= 0) & (left >= 0) & (top + h <= heights) & (left + w <= widths))
    drawn = (h < heights) | (w < widths)  # not the whole-image fallback
    assert drawn.mean() > 0.5
    area = h * w / (heights * widths)
    assert np.all((area[drawn] > 0.6) & (area[drawn] < 1.02))
    assert np.all((h / w)[drawn] > 1.9) and np.all((h / w)[drawn] < 3.1)
    # one size for all draws exactly as before
    same = rect_crop_boxes(np.random.default_rng(1), 8, 256, 128)
    assert np.array_equal(same, rect_crop_boxes(np.random.default_rng(1), 8,
                                                 np.full(8, 256), np.full(8, 128)))


def test_training_crops_are_cut_from_the_stored_image_then_pil_resized():
    pairs = list(synthetic_images(2))
    keys = np.array([30, 10, 20, 40])
    stored = StoredCrops.of_images(keys, pairs)
    # the training frames: the cache's resized crops, keyed by the same time steps
    cache = toy_frames(identities=4, per_identity=1, size=(32, 16))
    cache = type(cache)(cache.pids, cache.sequences, keys, cache.rgb, cache.depth)
    samples = SampleSet.of(cache, ("rgb", "depth"))
    pipeline = HostCropPipeline(InputEncoder(depth_encoding="stored"), (32, 16), "cpu", stored)
    index = np.array([0, 5, 2, 7, 3])
    augmentation = Augmentation("rect-crop", flip=False)
    host = pipeline.read(samples, index, False, augmentation, np.random.default_rng(5))
    shapes = np.array([pairs[samples.rows[i]][1].shape for i in index])
    boxes = rect_crop_boxes(np.random.default_rng(5), len(index), shapes[:, 0], shapes[:, 1])
    for name, (positions, images) in host.parts.items():
        for pos, image in zip(positions, images.numpy(), strict=True):
            source = pairs[samples.rows[index[pos]]][0 if name == "rgb" else 1]
            top, left, h, w = boxes[pos]
            expected = np.asarray(Image.fromarray(source).crop((left, top, left + w, top + h))
                                  .resize((16, 32), Image.BILINEAR))
            assert np.array_equal(image, expected), (name, pos)
    batch = pipeline.train_batch(host, augmentation, np.random.default_rng(0))
    assert batch.inputs.shape == (5, 3, 32, 16)


def test_stored_crops_of_a_prepared_tree_are_the_files_in_their_own_size(tmp_path):
    pairs = list(synthetic_images(3))
    names = write_tree(tmp_path, pairs)
    dataset = get_dataset("biwi", root=str(tmp_path), workers=1, resize="pil-bilinear")
    frames = dataset.build((32, 16))
    crops = stored_crops(dataset, frames, tmp_path / "cache")
    again = stored_crops(dataset, frames, tmp_path / "cache")  # memory-mapped the 2nd time
    assert isinstance(again.rgb, np.memmap)
    for i, name in enumerate(names):
        where = crops.positions(frames.frames[i:i + 1])[0]
        rgb = np.asarray(Image.open(tmp_path / "biwi" / "images" / name).convert("RGB"))
        assert np.array_equal(again.image("rgb", where), rgb)
        assert crops.image("depth", where).shape == pairs[i][1].shape
    synthetic = get_dataset("synthetic", identities=4, frames_per_identity=2)
    small = synthetic.build((16, 8))
    own = stored_crops(synthetic, small, tmp_path / "cache")
    assert np.array_equal(own.image("rgb", own.positions(small.frames[:1])[0]), small.rgb[0])

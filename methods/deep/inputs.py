"""From uint8 / uint16 crop arrays to normalised network inputs, in batches.

A training *sample* is one image: a row of :class:`PairedFrames` in one modality, with
an identity label. Batches are read by indexing the (possibly memory-mapped) arrays,
wrapped with ``torch.from_numpy`` and moved to the device; depth encoding, resizing,
augmentation and normalisation are batched tensor ops there.

Input layouts (:class:`InputEncoder`):

- ``"image"``: RGB as is; depth per-crop stretched to 8 bits
  (:func:`features.depth.normalise_depth`) and either replicated to three channels
  (``depth_encoding="normalised"``) or coloured with OpenCV's JET map (``"colormap"``);
  or, for depth that is already 8-bit (the prepared layout's JPEGs), replicated to three
  channels as stored (``"stored"``: the authors' ``Image.open(...).convert('RGB')``);
  or ``"relative"``: millimetres around the person's depth, ±1 m, replicated
  (:func:`relative_grey`).
- ``"zero-padding"`` (Wu et al., ICCV 2017, as the authors' code): RGB turned grey
  (ITU-R 601 luma, as PIL's ``convert("L")``) goes to channel 0, the grey depth to the
  last channel, the other channel(s) are zero. With three channels the layout is
  (RGB grey, 0, depth grey), all normalised with the ImageNet mean/std, so the zeros
  become per-channel constants; with two channels it is (RGB grey, depth grey),
  normalised with the red and blue channels' statistics. ``depth_slot`` moves the depth
  to another channel (0 reproduces the authors' test-time layout).

Both modalities use the ImageNet mean/std.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from methods.core.frames import PairedFrames
from methods.deep import augment
from methods.deep.augment import IMAGENET_MEAN, IMAGENET_STD, Augmentation

MODALITY_CODES = {"rgb": 0, "depth": 1}
LAYOUTS = ("image", "zero-padding")
LUMA = (0.299, 0.587, 0.114)
DEPTH_ENCODINGS = ("normalised", "colormap", "stored", "relative")
RELATIVE_RANGE_MM = 1000.0


def relative_grey(depth: torch.Tensor, range_mm: float = RELATIVE_RANGE_MM) -> torch.Tensor:
    """(b, h, w) uint16 millimetres -> float grey levels around the person's depth.

    The reference is the median valid reading of the crop's central region (middle half
    of the rows, middle third of the columns), where a person crop has its body. Depth
    within ``range_mm`` of it maps linearly to 1..255 (nearer = brighter, the reference
    = 128), beyond is clipped, missing = 0. Unlike per-crop stretching between the
    nearest and farthest reading, the body's relief keeps tens of grey levels whatever
    the distance to the wall behind.
    """
    d = depth.to(torch.float32)
    valid = d > 0
    h, w = d.shape[1:]
    centre = d[:, h // 4: h - h // 4, w // 3: w - w // 3].flatten(1)
    centre = torch.where(centre > 0, centre, torch.nan)
    reference = torch.nan_to_num(centre.nanmedian(1).values, nan=0.0)[:, None, None]
    scaled = torch.clamp(torch.round(128.0 + 127.0 * (reference - d) / range_mm), 1, 255)
    return torch.where(valid, scaled, torch.zeros_like(scaled))


def stored_grey(depth: torch.Tensor) -> torch.Tensor:
    """(b, h, w) depth already stored as 8-bit grey levels -> float 0-255, unchanged.

    Raises ``ValueError`` on values above 255 (millimetres need an encoding that
    stretches them, e.g. ``"normalised"``).
    """
    grey = depth.to(torch.float32)
    deepest = float(grey.max()) if grey.numel() else 0.0
    if deepest > 255:
        raise ValueError(f"depth_encoding 'stored' takes 8-bit depth (the prepared layout's "
                         f"images), but this depth goes up to {deepest:.0f}; use "
                         f"depth_encoding = \"normalised\" for depth in millimetres")
    return grey


def depth_grey(depth: torch.Tensor) -> torch.Tensor:
    """(b, h, w) uint16 millimetres -> (b, h, w) float grey levels 0-255.

    The tensor version of :func:`features.depth.normalise_depth`: valid readings
    stretched per crop, nearest = 255, farthest = 1, missing = 0.
    """
    d = depth.to(torch.float32)
    valid = d > 0
    flat = d.flatten(1)
    near = torch.where(valid.flatten(1), flat, torch.inf).amin(1)
    far = torch.where(valid.flatten(1), flat, -torch.inf).amax(1)
    near = torch.where(torch.isfinite(near), near, 0.0)[:, None, None]
    far = torch.where(torch.isfinite(far), far, 0.0)[:, None, None]
    span = torch.clamp(far - near, min=1.0)
    scaled = torch.round(1.0 + 254.0 * (far - d) / span)
    return torch.where(valid, scaled, torch.zeros_like(scaled))


def jet_table() -> np.ndarray:
    """(256, 3) uint8 RGB colours of OpenCV's JET map; level 0 (missing depth) is black."""
    table = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[:, None], cv2.COLORMAP_JET)
    table = np.ascontiguousarray(table[:, 0, ::-1])
    table[0] = 0
    return table


@dataclass(frozen=True)
class InputEncoder:
    """Turns raw crops of either modality into (b, c, h, w) float batches in [0, 1].

    Attributes:
        layout: ``"image"`` or ``"zero-padding"`` (see the module docstring).
        depth_encoding: ``"normalised"``, ``"colormap"`` (``"image"`` layout only),
            ``"stored"`` or ``"relative"``.
        channels: 3, or 2 for the two-channel zero-padding input.
        depth_slot: zero-padding's depth channel; ``None`` = the last one.
    """

    layout: str = "image"
    depth_encoding: str = "normalised"
    channels: int = 3
    depth_slot: int | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown input layout {self.layout!r}; expected {LAYOUTS}")
        if self.depth_encoding not in DEPTH_ENCODINGS:
            raise ValueError(f"unknown depth encoding {self.depth_encoding!r}")
        if self.channels not in (2, 3) or (self.channels == 2 and self.layout == "image"):
            raise ValueError(f"{self.layout!r} input cannot have {self.channels} channels")

    def mean_std(self, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
        """(c,) mean and std the encoded batch is normalised with."""
        pick = [0, 1, 2] if self.channels == 3 else [0, 2]
        mean = torch.tensor([IMAGENET_MEAN[i] for i in pick], device=device)
        std = torch.tensor([IMAGENET_STD[i] for i in pick], device=device)
        return mean, std

    def encode(self, images: torch.Tensor, modality: str) -> torch.Tensor:
        """``rgb`` (b, h, w, 3) uint8 or ``depth`` (b, h, w) uint16 -> (b, c, h, w) float."""
        if modality == "rgb":
            rgb = images.permute(0, 3, 1, 2).to(torch.float32)
            if self.layout == "image":
                return rgb / 255.0
            luma = torch.tensor(LUMA, device=rgb.device).view(1, 3, 1, 1)
            return self._padded((rgb * luma).sum(1) / 255.0, slot=0)
        if modality == "depth":
            grey = {"stored": stored_grey, "relative": relative_grey}.get(
                self.depth_encoding, depth_grey)(images)
            if self.layout == "zero-padding":
                slot = self.channels - 1 if self.depth_slot is None else self.depth_slot
                return self._padded(grey / 255.0, slot=slot)
            if self.depth_encoding == "colormap":
                table = torch.from_numpy(jet_table()).to(grey.device, torch.float32)
                return table[grey.to(torch.long)].permute(0, 3, 1, 2) / 255.0
            return (grey / 255.0)[:, None].expand(-1, 3, -1, -1)
        raise ValueError(f"unknown modality {modality!r}")

    def _padded(self, grey: torch.Tensor, slot: int) -> torch.Tensor:
        out = grey.new_zeros((grey.shape[0], self.channels, *grey.shape[1:]))
        out[:, slot] = grey
        return out


@dataclass(frozen=True)
class SampleSet:
    """Training images: ``rows`` of ``frames`` in ``modalities`` (0 rgb, 1 depth), labelled.

    ``labels`` are contiguous class indices 0..num_classes-1 (identities in sorted order).
    """

    frames: PairedFrames
    rows: np.ndarray
    modalities: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, frames: PairedFrames, modalities: Sequence[str]) -> SampleSet:
        """Every row of ``frames`` once per modality in ``modalities``."""
        n = len(frames)
        _, labels = np.unique(frames.pids, return_inverse=True)
        return cls(frames,
                   np.tile(np.arange(n), len(modalities)),
                   np.repeat([MODALITY_CODES[m] for m in modalities], n).astype(np.int64),
                   np.tile(labels.astype(np.int64), len(modalities)))

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


@dataclass
class HostBatch:
    """One batch of raw crops on the host, split by modality."""

    index: np.ndarray
    labels: torch.Tensor
    parts: dict[str, tuple[np.ndarray, torch.Tensor]]

    def on_device(self, inputs: torch.Tensor, device: torch.device) -> Batch:
        """The :class:`Batch` of network ``inputs`` made from this batch's crops: its
        labels and modality codes moved to ``device``."""
        codes = np.empty(len(self.index), dtype=np.int64)
        for name, (positions, _) in self.parts.items():
            codes[positions] = MODALITY_CODES[name]
        return Batch(inputs, self.labels.to(device, non_blocking=True), self.index,
                     torch.from_numpy(codes).to(device, non_blocking=True))


@dataclass
class Batch:
    """One training batch on the device.

    Attributes:
        inputs: (b, c, h, w) normalised, augmented network input.
        labels: (b,) class indices.
        index: (b,) positions of the samples in the :class:`SampleSet` (e.g. to look up
            per-sample targets such as a teacher's embeddings).
        modalities: (b,) the modality of each sample (:data:`MODALITY_CODES`: 0 rgb,
            1 depth), on the device of ``inputs``.
    """

    inputs: torch.Tensor
    labels: torch.Tensor
    index: np.ndarray
    modalities: torch.Tensor


class Pipeline:
    """Encodes, resizes, augments and normalises batches on one device.

    Batches are channels-last by default: it is what tensor cores want on a GPU, and on
    a 2-core CPU it trained ResNet-10 at 64x32 10-15 % faster than the default layout.
    """

    def __init__(self, encoder: InputEncoder, size: tuple[int, int],
                 device: torch.device | str = "cpu", channels_last: bool = True) -> None:
        self.encoder = encoder
        self.size = size
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.mean, self.std = encoder.mean_std(self.device)

    def fed(self, network: torch.nn.Module) -> torch.nn.Module:
        """The module to call on this pipeline's inputs to run ``network``: the network
        itself for images (see :class:`~methods.deep.fixed_outputs.FixedStagePipeline`), its
        weights (in place) in the batches' memory layout, for training and embedding
        alike, so a network trained now and the same weights loaded give the same bits
        (on an AVX-512 CPU the two layouts' convolutions differ in the last bits)."""
        return network.to(memory_format=torch.channels_last) if self.channels_last \
            else network

    def unnormalised(self, images: torch.Tensor, modality: str) -> torch.Tensor:
        """Raw crops (any device) -> encoded (b, c, h, w) in [0, 1] at the input size."""
        images = images.to(self.device, non_blocking=True)
        return augment.resize(self.encoder.encode(images, modality), self.size)

    def finish(self, images: torch.Tensor) -> torch.Tensor:
        x = augment.normalise(images, self.mean, self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def eval_inputs(self, images: np.ndarray, modality: str) -> torch.Tensor:
        """Network input for test images: resize and normalise only."""
        return self.finish(self.unnormalised(torch.from_numpy(np.ascontiguousarray(images)),
                                             modality))

    def read(self, samples: SampleSet, index: np.ndarray, pin: bool,
             augmentation: Augmentation, rng: np.random.Generator) -> HostBatch:
        """The raw crops of one training batch on the host (``augmentation`` and ``rng``
        are for pipelines that cut crops there, :mod:`methods.deep.host_crops`)."""
        return fetch(samples, index, pin)

    def train_batch(self, host: HostBatch, augmentation: Augmentation,
                    rng: np.random.Generator) -> Batch:
        """Network input for a training batch, augmented."""
        x = interleaved([(pos, self.unnormalised(images, m))
                         for m, (pos, images) in host.parts.items()], len(host.index))
        x = augment.geometric(x, augmentation, rng)
        x = augment.erase(augment.normalise(x, self.mean, self.std), augmentation.erasing, rng)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return host.on_device(x, self.device)


def interleaved(parts: list[tuple[np.ndarray, torch.Tensor]], n: int) -> torch.Tensor:
    """One batch of ``n`` from per-modality parts: ``(positions, rows)`` puts ``rows`` at
    ``positions`` of the batch."""
    if len(parts) == 1:
        return parts[0][1]
    first = parts[0][1]
    batch = first.new_empty((n, *first.shape[1:]))
    for positions, rows in parts:
        batch[torch.from_numpy(positions).to(batch.device)] = rows
    return batch


def fetch(samples: SampleSet, index: np.ndarray, pin: bool = False) -> HostBatch:
    """Read the crops of ``samples[index]`` from the (memory-mapped) arrays."""
    parts = {}
    for name, code in MODALITY_CODES.items():
        pos = np.flatnonzero(samples.modalities[index] == code)
        if len(pos) == 0:
            continue
        rows = samples.rows[index[pos]]
        images = torch.from_numpy(np.ascontiguousarray(samples.frames.images(name)[rows]))
        parts[name] = (pos, images.pin_memory() if pin else images)
    return HostBatch(index, torch.from_numpy(samples.labels[index]), parts)


def prefetched(samples: SampleSet, batches: Iterator[np.ndarray], pin: bool = False,
               read: Callable[[SampleSet, np.ndarray, bool], HostBatch] = fetch
               ) -> Iterator[HostBatch]:
    """``read`` (default :func:`fetch`) of each batch, reading the next one in a thread
    while this one trains."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for index in batches:
            future = pool.submit(read, samples, index, pin)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()


@torch.inference_mode()
def embed_images(network: torch.nn.Module, pipeline: Pipeline, images: np.ndarray,
                 modality: str, batch_size: int = 256, amp: bool = False,
                 forward: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor] | None = None
                 ) -> np.ndarray:
    """(n, d) float32 embeddings of test images; the network is put in eval mode.
    ``forward(module, inputs)`` embeds a batch (default: the first output), where
    ``module`` is the network as the pipeline feeds it (:meth:`Pipeline.fed`)."""
    was_training = network.training
    network.eval()
    chunks = []
    try:
        run = pipeline.fed(network)
        for start in range(0, len(images), batch_size):
            x = pipeline.eval_inputs(images[start:start + batch_size], modality)
            with torch.autocast(pipeline.device.type, dtype=torch.bfloat16, enabled=amp):
                embedding = run(x)[0] if forward is None else forward(run, x)
            chunks.append(embedding.float().cpu().numpy())
    finally:
        network.train(was_training)
    if not chunks:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(chunks).astype(np.float32, copy=False)

"""Training crops cut and resized one image at a time on the host, with PIL's kernel.

The authors' loaders cut each random crop from the stored image in its own pixels and
resize it to the input size with PIL's ``BILINEAR`` (``RandomSizedRectCrop``,
``open-reid/reid/utils/data/transforms.py:28-44``), then flip it at random. With the deep
option ``resize = "pil-bilinear"`` the training pipeline does the same: the crop box is
drawn in the source image's size (:func:`methods.deep.augment.rect_crop_boxes`, from the
engine's crop generator in the reading thread), cut, resized with
:func:`methods.core.resize.pil_bilinear` and flipped on the device as every other
pipeline flips. The source is the data set's stored crop (``crop_from = "stored"``,
:mod:`methods.core.stored_crops`) or the crop cache's image (``"resized"``). Test images
and images of another size than the input are resized with the same kernel. Depth is
encoded after the crop (a ``"normalised"`` stretch then spans the crop's readings; the
authors' ``"stored"`` 8-bit depth is unchanged by the order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from methods.core.resize import pil_bilinear
from methods.core.stored_crops import StoredCrops
from methods.deep.augment import Augmentation, rect_crop_boxes
from methods.deep.inputs import MODALITY_CODES, Batch, HostBatch, InputEncoder, Pipeline, SampleSet


def resized_batch(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A batch of same-size images resized to ``size`` with PIL's bilinear kernel."""
    if tuple(images.shape[1:3]) == tuple(size):
        return images
    return np.stack([pil_bilinear(image, size) for image in images])


class HostCropPipeline(Pipeline):
    """A :class:`Pipeline` whose training crops and resizes are PIL's, on the host.

    Args:
        stored: the crops to cut from, by time-step key; ``None`` = the samples' own
            (the crop cache's) images.
    """

    def __init__(self, encoder: InputEncoder, size: tuple[int, int],
                 device: torch.device | str = "cpu", stored: StoredCrops | None = None,
                 channels_last: bool = True) -> None:
        super().__init__(encoder, size, device, channels_last)
        self.stored = stored

    def unnormalised(self, images: torch.Tensor, modality: str) -> torch.Tensor:
        if tuple(images.shape[1:3]) != tuple(self.size):
            images = torch.from_numpy(resized_batch(images.numpy(), self.size))
        return super().unnormalised(images, modality)

    def read(self, samples: SampleSet, index: np.ndarray, pin: bool,
             augmentation: Augmentation, rng: np.random.Generator) -> HostBatch:
        rows = samples.rows[index]
        shapes, image = self._source(samples, rows)
        if augmentation.crop == "rect-crop":
            boxes = rect_crop_boxes(rng, len(rows), shapes[:, 0], shapes[:, 1])
        else:
            boxes = np.concatenate([np.zeros_like(shapes), shapes], axis=1)
        parts = {}
        for name, code in MODALITY_CODES.items():
            pos = np.flatnonzero(samples.modalities[index] == code)
            if len(pos) == 0:
                continue
            crops = np.stack([pil_bilinear(self._cut(image(name, i), boxes[i]), self.size)
                              for i in pos])
            images = torch.from_numpy(crops)
            parts[name] = (pos, images.pin_memory() if pin else images)
        return HostBatch(index, torch.from_numpy(samples.labels[index]), parts)

    def train_batch(self, host: HostBatch, augmentation: Augmentation,
                    rng: np.random.Generator) -> Batch:
        """The host batch is cut already: flip, erase and normalise as every pipeline."""
        return super().train_batch(host, dataclasses.replace(augmentation, crop="none"), rng)

    def _source(self, samples: SampleSet, rows: np.ndarray
                ) -> tuple[np.ndarray, Callable[[str, int], np.ndarray]]:
        """(n, 2) sizes of the batch's source images and a reader of image i."""
        frames = samples.frames
        if self.stored is None:
            shapes = np.tile(np.array(frames.image_size, dtype=np.int64), (len(rows), 1))
            return shapes, lambda name, i: np.asarray(frames.images(name)[rows[i]])
        stored = self.stored
        where = stored.positions(frames.frames[rows])
        return stored.shapes[where], lambda name, i: stored.image(name, where[i])

    @staticmethod
    def _cut(image: np.ndarray, box: np.ndarray) -> np.ndarray:
        top, left, h, w = (int(v) for v in box)
        return image[top:top + h, left:left + w]

"""Outputs of a network's fixed trunk stages, remembered per input image.

With ``train_from`` later than the stem, the stages before it never change: their
output for an image is the same in every epoch, every validation, every fold and every
method that starts from the same weights. :class:`FixedOutputs` computes each distinct
input once. It is content-addressed: the key of an input is a hash of its exact bytes
(the normalised, resized network input), so a hit can only return what the stages would
compute, whatever produced the input (a training batch, its mirror image, a validation
or test image). Inputs that differ in every batch (random crops, random erasing) never
hit; the cache pays off with ``augment = "none"``, where the flips are the only
augmentation and each image has two inputs.

The store is kept in memory and, with a ``folder``, in the artifact store (shared by all
tasks of a data set; :meth:`FixedOutputs.save` merges with what another process wrote,
so concurrent tasks lose nothing but recomputation).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from methods.augment import Augmentation
from methods.backbone import Backbone
from methods.deep_data import Batch, HostBatch, Pipeline

FILE_NAME = "outputs.npz"
Stages = Callable[[torch.Tensor], torch.Tensor]


def input_keys(x: torch.Tensor) -> list[bytes]:
    """A 16-byte BLAKE2b digest of each sample of a batch (its dtype, shape and values,
    in contiguous NCHW order whatever the memory format)."""
    array = x.detach().to("cpu").contiguous().numpy()
    header = f"{array.dtype}{array.shape[1:]}".encode()
    return [hashlib.blake2b(header + row.tobytes(), digest_size=16).digest() for row in array]


def weights_key(modules: list[torch.nn.Module]) -> str:
    """A digest of the parameters and buffers of ``modules``: which fixed stages computed
    the stored outputs."""
    digest = hashlib.blake2b(digest_size=16)
    for module in modules:
        for name, tensor in module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class FixedOutputs:
    """A memo of ``stages(x)`` per sample of ``x``, optionally stored in ``folder``.

    The caller guarantees that ``stages`` is a fixed function (weights frozen, eval
    mode); ``folder`` must be keyed by those weights (:func:`weights_key`).
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = None if folder is None else Path(folder)
        self.outputs: dict[bytes, torch.Tensor] = {}
        self.unsaved = 0
        self.hits = 0
        self.misses = 0
        if self.folder is not None:
            self.outputs.update(self._read())

    def __len__(self) -> int:
        return len(self.outputs)

    def __deepcopy__(self, memo: dict) -> FixedOutputs:
        """Copies of a network share the memo (their fixed stages are the same)."""
        return self

    def __call__(self, x: torch.Tensor, stages: Stages) -> torch.Tensor:
        """``stages(x)``, computing only the samples not seen before."""
        keys = input_keys(x)
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        missing = [i for key, i in first.items() if key not in self.outputs]
        if missing:
            with torch.no_grad():
                computed = stages(x[missing]).detach().to("cpu", torch.float32)
            for i, row in zip(missing, computed, strict=True):
                self.outputs[keys[i]] = row.contiguous()
            self.unsaved += len(missing)
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        rows = torch.stack([self.outputs[key] for key in keys])
        return rows.to(x.device).contiguous(memory_format=_format_of(x, rows))

    def save(self) -> None:
        """Write the memo (merged with the stored one) atomically; no-op without a folder
        or without new outputs."""
        if self.folder is None or self.unsaved == 0:
            return
        merged = {**self._read(), **self.outputs}
        keys = np.frombuffer(b"".join(merged), dtype=np.uint8).reshape(len(merged), 16)
        values = torch.stack(list(merged.values())).numpy()
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=FILE_NAME + ".", suffix=".npz", dir=self.folder)
        os.close(fd)
        try:
            np.savez(tmp, keys=keys, values=values)
            os.replace(tmp, self.folder / FILE_NAME)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        self.unsaved = 0

    def _read(self) -> dict[bytes, torch.Tensor]:
        path = self.folder / FILE_NAME
        if not path.is_file():
            return {}
        try:
            with np.load(path) as stored:
                keys, values = stored["keys"], stored["values"]
        except (OSError, ValueError, KeyError):
            return {}  # unreadable: recomputed and rewritten by the next save
        return {bytes(k): torch.from_numpy(v.copy()) for k, v in zip(keys, values, strict=True)}


def _format_of(x: torch.Tensor, rows: torch.Tensor) -> torch.memory_format:
    if rows.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


class FixedStagePipeline(Pipeline):
    """A training pipeline that hands the network its fixed stages' outputs, not images.

    Each training sample has two possible inputs (as is and mirrored, ``augment =
    "none"``); their fixed outputs are looked up in ``memo`` under a key of the raw
    crop, the modality, the encoding, the input size and the flip, and computed once.
    The flips are drawn exactly as :func:`methods.augment.geometric` draws them, so a
    seed gives the same batches with or without this pipeline. Validation and test
    inputs go through the network's own memo (:meth:`Pipeline.eval_inputs`).
    """

    def __init__(self, base: Pipeline, backbone: Backbone, entry: str, memo: FixedOutputs
                 ) -> None:
        super().__init__(base.encoder, base.size, base.device, channels_last=False)
        self.base = base
        self.backbone = backbone
        self.entry = entry
        self.memo = memo
        self.prefix = f"raw|{base.encoder}|{base.size}|".encode()

    def feeding(self, network: torch.nn.Module) -> contextlib.AbstractContextManager:
        return network.fed_at(self.entry)

    def train_batch(self, host: HostBatch, augmentation: Augmentation,
                    rng: np.random.Generator) -> Batch:
        if augmentation.crop != "none" or augmentation.erasing > 0:
            raise ValueError("fixed-stage outputs are reused only without random crops "
                             "or erasing")
        n = len(host.index)
        flips = rng.random(n) < 0.5 if augmentation.flip else np.zeros(n, dtype=bool)
        rows: list[torch.Tensor | None] = [None] * n
        for modality, (positions, images) in host.parts.items():
            keys = [self._key(modality, images[j], bool(flips[p]))
                    for j, p in enumerate(positions)]
            missing = [j for j, key in enumerate(keys) if key not in self.memo.outputs]
            if missing:
                self._compute(images[missing], modality, flips[positions[missing]],
                              [keys[j] for j in missing])
            for p, key in zip(positions, keys, strict=True):
                rows[p] = self.memo.outputs[key]
            self.memo.hits += len(keys) - len(missing)
        inputs = torch.stack(rows).to(self.device, non_blocking=True)
        return Batch(inputs, host.labels.to(self.device, non_blocking=True), host.index)

    def _key(self, modality: str, image: torch.Tensor, flip: bool) -> bytes:
        raw = image.contiguous().numpy()
        tag = f"{modality}|{'mirrored' if flip else 'as is'}|{raw.shape}|".encode()
        return hashlib.blake2b(self.prefix + tag + raw.tobytes(), digest_size=16).digest()

    def _compute(self, images: torch.Tensor, modality: str, flips: np.ndarray,
                 keys: list[bytes]) -> None:
        x = self.base.unnormalised(images, modality)
        mirror = torch.from_numpy(flips).to(x.device).view(-1, 1, 1, 1)
        x = self.base.finish(torch.where(mirror, x.flip(3), x))
        with torch.no_grad():
            outputs = self.backbone.forward_until(x, self.entry).to("cpu", torch.float32)
        for key, row in zip(keys, outputs, strict=True):
            self.memo.outputs.setdefault(key, row.contiguous())
        self.memo.unsaved += len(keys)
        self.memo.misses += len(keys)

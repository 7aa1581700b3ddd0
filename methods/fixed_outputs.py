"""Outputs of a network's fixed trunk stages, computed once per input image.

With ``train_from`` later than the stem, the stages before it never change: their
output for an image is the same in every epoch, every validation, every fold and every
method that starts from the same weights. :class:`FixedStagePipeline` hands a network
those outputs instead of images and computes each one once, in a :class:`FixedOutputs`
store. The store is content-addressed: a key is a hash of the raw crop's bytes, its
modality, the input encoding and size, and whether it is mirrored, so a hit can only
return what the stages would compute for that input. Random crops or erasing would make
every input new, so the pipeline serves ``augment = "none"``, where flips are the only
augmentation and each image has two inputs.

The store lives in memory and, with a ``folder``, in the artifact store (keyed by the
fixed stages' weights, :func:`weights_key`, shared by all tasks of a data set);
:meth:`FixedOutputs.save` merges with what another process wrote, so concurrent tasks
lose nothing but recomputation.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from benchmark.atomic import atomic_path
from methods.augment import Augmentation, draw_flips, mirrored
from methods.backbone import Backbone
from methods.deep_data import Batch, HostBatch, Pipeline, interleaved

FILE_NAME = "outputs.npz"
KEY_BYTES = 16


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
    """Outputs by input key (``KEY_BYTES`` bytes), optionally stored in ``folder``.

    Whoever fills it guarantees that one key always names one output (the same input
    through the same fixed stages); ``folder`` must be keyed by those stages' weights.
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

    def lookup(self, keys: list[bytes],
               compute: Callable[[list[int]], torch.Tensor]) -> torch.Tensor:
        """The stacked outputs of ``keys``; ``compute(positions)`` gives the outputs of
        the inputs at those positions, called once for the keys not stored yet."""
        first = {key: i for i, key in reversed(list(enumerate(keys)))}
        missing = [i for key, i in first.items() if key not in self.outputs]
        if missing:
            with torch.no_grad():
                computed = compute(missing).detach().to("cpu", torch.float32)
            for i, row in zip(missing, computed, strict=True):
                self.outputs[keys[i]] = row.contiguous()
            self.unsaved += len(missing)
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        return torch.stack([self.outputs[key] for key in keys])

    def save(self) -> None:
        """Write the store (merged with the stored one) atomically; no-op without a
        folder or without new outputs."""
        if self.folder is None or self.unsaved == 0:
            return
        merged = {**self._read(), **self.outputs}
        keys = np.frombuffer(b"".join(merged), dtype=np.uint8).reshape(len(merged), KEY_BYTES)
        values = torch.stack(list(merged.values())).numpy()
        with atomic_path(self.folder / FILE_NAME, keys.nbytes + values.nbytes) as temporary:
            np.savez(temporary, keys=keys, values=values)
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


class FixedStagePipeline(Pipeline):
    """A pipeline that hands the network its fixed stages' outputs, not images.

    Training batches draw their flips with :func:`methods.augment.draw_flips`, as the
    image pipeline does, so a seed gives the same batches as without it; evaluation
    inputs are the outputs of the images as they are. Each output is computed once,
    from ``base``'s encoding, through ``backbone``'s stages before ``entry``.
    """

    def __init__(self, base: Pipeline, backbone: Backbone, entry: str, memo: FixedOutputs
                 ) -> None:
        super().__init__(base.encoder, base.size, base.device, channels_last=False)
        self.base = base
        self.backbone = backbone
        self.entry = entry
        self.memo = memo
        self.prefix = f"{base.encoder}|{base.size}|".encode()

    def feeding(self, network: torch.nn.Module) -> contextlib.AbstractContextManager:
        return network.fed_at(self.entry)

    def eval_inputs(self, images: np.ndarray, modality: str) -> torch.Tensor:
        images = torch.from_numpy(np.ascontiguousarray(images))
        return self._outputs(images, modality, np.zeros(len(images), dtype=bool))

    def train_batch(self, host: HostBatch, augmentation: Augmentation,
                    rng: np.random.Generator) -> Batch:
        if augmentation.crop != "none" or augmentation.erasing > 0:
            raise ValueError("fixed-stage outputs are reused only without random crops "
                             "or erasing")
        n = len(host.index)
        flips = draw_flips(rng, n, augmentation.flip)
        inputs = interleaved([(positions, self._outputs(images, modality, flips[positions]))
                              for modality, (positions, images) in host.parts.items()], n)
        return Batch(inputs, host.labels.to(self.device, non_blocking=True), host.index)

    def _outputs(self, images: torch.Tensor, modality: str, flips: np.ndarray
                 ) -> torch.Tensor:
        keys = [self._key(modality, image, bool(flip))
                for image, flip in zip(images, flips, strict=True)]

        def compute(positions: list[int]) -> torch.Tensor:
            x = mirrored(self.base.unnormalised(images[positions], modality), flips[positions])
            return self.backbone.forward_until(self.base.finish(x), self.entry)

        return self.memo.lookup(keys, compute).to(self.device)

    def _key(self, modality: str, image: torch.Tensor, flip: bool) -> bytes:
        raw = image.contiguous().numpy()
        tag = f"{modality}|{'mirrored' if flip else 'as is'}|{raw.dtype}{raw.shape}|".encode()
        return hashlib.blake2b(self.prefix + tag + raw.tobytes(), digest_size=KEY_BYTES).digest()

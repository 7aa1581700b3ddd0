"""Load a trained network from the artifact store, or train and store it.

Every deep method gets its weights here, once: the artifact's folder (named by the hash
of everything that produced it) holds one checkpoint; a second call with the same key
loads it. A lock on the folder lets two processes that need the same network (a step-I
network and the distillation tasks that reuse it) share one training: the second waits
and loads. The checkpoint is written atomically after training, so an interrupted run
leaves nothing half-written and the rerun trains again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from methods.core.locks import task_lock
from methods.deep.engine import load_checkpoint, require_checkpoint_space, save_checkpoint, seeded

LOCK_NAME = ".training.lock"
Build = Callable[[dict[str, Any] | None], nn.Module]
Train = Callable[[nn.Module], tuple[nn.Module, dict[str, Any]]]


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run a block with ``count`` torch CPU threads (0 = leave torch's setting)."""
    before = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_or_train(folder: Path, checkpoint: str, build: Build, train: Train, seed: int,
                  device: str = "cpu", num_threads: int = 0, force: bool = False
                  ) -> tuple[nn.Module, Path]:
    """The network stored at ``folder / checkpoint``, or trained and stored there.

    Args:
        folder: the artifact's folder (``TaskContext.artifact_dir`` of its key).
        checkpoint: the checkpoint's file name in ``folder``.
        build: a new network; called with the stored checkpoint's metadata when loading
            (e.g. its class count; load-time weights come from the file) and with
            ``None`` before training, seeded, so initialisation is reproducible.
        train: trains the network it is given and returns the network to store and
            the metadata saved with it.
        seed: seeds torch's generators for ``build`` and ``train``.
        device: the device the generators are forked on.
        num_threads: torch CPU threads while training (0 = torch's default).
        force: train even if the checkpoint exists (``run --force``), and replace it.

    Returns:
        The network (as ``build`` or ``train`` left it) and its checkpoint file.
    """
    path = Path(folder) / checkpoint
    with task_lock(Path(folder) / LOCK_NAME, wait=True):
        if path.is_file() and not force:
            state, meta = load_checkpoint(path)
            network = build(meta)
            network.load_state_dict(state)
            return network, path
        with torch_threads(num_threads), seeded(seed, device):
            network = build(None)
            require_checkpoint_space(path, network)
            network, meta = train(network)
        save_checkpoint(path, network, meta)
    return network, path

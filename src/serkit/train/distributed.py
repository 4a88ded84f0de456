"""Data-parallel training (PyTorch DDP) for the one training loop.

``torchrun --nproc-per-node N -m serkit train RECIPE --out DIR`` starts N processes; torchrun sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address, and :func:`init` joins the
process group (``nccl`` when every process has a GPU, else ``gloo`` on CPU). Without those
variables everything here is a no-op and training is the single-process loop, unchanged.

What the loop does with it:

- every rank builds the same model from the same seed; :class:`~torch.nn.parallel.DistributedDataParallel`
  averages gradients after each backward pass;
- each *global* batch of the recipe's batch sampler is split between the ranks
  (:func:`shard_batch`), so the recipe's ``train.batch_size`` and number of steps per epoch mean the
  same as in one process (each rank holds ``batch_size / N`` utterances);
- training loss sums and counts are added over ranks, and validation outputs are gathered from all
  ranks, so every rank computes the same metrics and takes the same early-stopping decision;
- only rank 0 writes checkpoints, logs and progress bars; the others wait at a barrier, and on
  ``--resume`` every rank loads rank 0's ``last.pt``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a data-parallel job.

    Attributes:
        rank: global rank (0 writes checkpoints and logs).
        world_size: number of processes (1 = not distributed).
        local_rank: rank on this node (GPU index with nccl).
        backend: ``gloo``, ``nccl`` or ``""`` when not distributed.
        device: where this rank's model lives.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""
    device: str = "cpu"

    @property
    def enabled(self) -> bool:
        """True in a job of more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (or when not distributed)."""
        return self.rank == 0


SINGLE = DistInfo()


def launched() -> bool:
    """True when started by torchrun (or another launcher setting ``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init() -> DistInfo:
    """Join the process group that torchrun set up (idempotent); :data:`SINGLE` without torchrun.

    Raises:
        RuntimeError: the rendezvous fails (torch's message names the address).
    """
    if not launched():
        return SINGLE
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    gpu = torch.cuda.is_available() and torch.cuda.device_count() > local
    backend = "nccl" if gpu else "gloo"
    if not dist.is_initialized():
        if gpu:
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
        log.info("rank %d of %d joined the process group (%s)", rank, world, backend)
    return DistInfo(rank, world, local, backend, f"cuda:{local}" if gpu else "cpu")


def current() -> DistInfo:
    """The job this process is part of (after :func:`init`), else :data:`SINGLE`."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = dist.get_backend()
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, backend,
                    f"cuda:{local}" if backend == "nccl" else "cpu")


def shutdown() -> None:
    """Leave the process group (end of a torchrun job)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in one process)."""
    if info.enabled:
        dist.barrier()


def shard_batch(batch: Sequence[int], info: DistInfo) -> list[int]:
    """This rank's part of one global batch of item indices.

    The batch is cut into ``world_size`` contiguous, near-equal parts (DDP then averages the
    ranks' gradients, which equals the gradient of the whole batch when the parts are equal).
    A batch smaller than the world gives the short ranks its first item again, so every rank
    takes the same number of steps (DDP needs that).
    """
    if not info.enabled:
        return list(batch)
    parts = np.array_split(np.asarray(batch), info.world_size)
    mine = parts[info.rank].tolist()
    return mine or [int(batch[0])]


def sum_over_ranks(values: Sequence[float], info: DistInfo) -> list[float]:
    """Element-wise sum of a few numbers over all ranks (e.g. loss sums and item counts)."""
    if not info.enabled:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """The model for training steps: DDP over it in a job of several processes, else itself.

    ``find_unused_parameters`` is on because several serkit models have heads that a recipe can
    switch off (gender, A/V/D, CTC), whose parameters then get no gradient.
    """
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [info.local_rank] if info.backend == "nccl" else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

"""Training in several processes: ``torchrun --nproc-per-node N -m ddpm_tutorial train ...``.

torchrun starts N copies of the command and tells each its place through the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
:func:`init_from_environment` joins them into one process group (NCCL between GPUs, gloo
between CPU processes) and returns a :class:`World`; the training loop then asks it four
small questions, and is otherwise the loop of a single process:

* **which rows of the batch are mine?** ``batch_size`` is the *global* batch: every process
  draws the whole batch's indices, steps ``t``, noise and condition dropout from the same
  ``torch.Generator`` (seeded alike, so in the same state in every process) and keeps its own
  slice, rows ``[rank * B / N, (rank + 1) * B / N)`` (:meth:`World.rows`). Every process
  therefore sees exactly the examples, steps and noise that a single process would draw for
  that global batch, and the random state stays identical everywhere, so resuming from one
  checkpoint is exact;
* **wrap the network** (:meth:`World.wrap`): DistributedDataParallel averages the gradients
  over the processes during the backward pass. With equal slices, the mean of the N slice
  means is the global batch's mean, so the gradient equals a single process's on the whole
  batch up to the order of float32 sums, and every process takes the same optimizer step:
  the weights, and the EMA of the weights, stay identical on every rank;
* **the loss of the global batch** (:meth:`World.mean`): each step's loss is averaged over the
  processes on the device (no wait for the CPU), so the logged curve is the global batch's and
  a non-finite loss in any process stops every process at the same logging point;
* **am I the one who writes?** (:attr:`World.is_main`): rank 0 alone writes checkpoints, the
  model card and the progress bar.

A single process (no torchrun) is ``World()``: rank 0 of 1, every question answered trivially.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

__all__ = [
    "World",
    "current_world",
    "init_from_environment",
    "shutdown",
    "world_size_from_environment",
]


@dataclass(frozen=True)
class World:
    """This process's place among the training processes.

    Attributes:
        rank: this process, 0 to ``world_size - 1``.
        world_size: how many processes train together.
        local_rank: this process on its machine (its GPU's index).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes checkpoints, cards and logs (rank 0)."""
        return self.rank == 0

    def check_batch_size(self, batch_size: int) -> int:
        """The rows per process; raises ``ValueError`` unless ``batch_size`` divides evenly."""
        if batch_size % self.world_size:
            raise ValueError(
                f"batch_size {batch_size} does not divide among {self.world_size} processes; "
                f"use a multiple of {self.world_size}"
            )
        return batch_size // self.world_size

    def rows(self, batch_size: int) -> slice:
        """This process's rows of a global batch of ``batch_size``: one of N equal slices."""
        per_process = self.check_batch_size(batch_size)
        return slice(self.rank * per_process, (self.rank + 1) * per_process)

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """``model`` in DistributedDataParallel (gradients averaged), or itself when alone."""
        if self.world_size == 1:
            return model
        device_ids = [device.index if device.index is not None else self.local_rank]
        return DistributedDataParallel(
            model, device_ids=device_ids if device.type == "cuda" else None
        )

    def mean(self, value: Tensor) -> Tensor:
        """``value`` averaged over the processes (a copy; ``value`` itself when alone)."""
        if self.world_size == 1:
            return value
        total = value.detach().clone()
        dist.all_reduce(total, op=dist.ReduceOp.SUM)
        return total / self.world_size

    def barrier(self) -> None:
        """Wait until every process gets here (nothing when alone)."""
        if self.world_size > 1:
            dist.barrier()


def world_size_from_environment() -> int:
    """``WORLD_SIZE`` as torchrun sets it (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def current_world() -> World:
    """The :class:`World` of the process group in force, or ``World()`` when there is none."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def init_from_environment(device: torch.device | str) -> World:
    """Join the process group that torchrun's environment describes; ``World()`` without one.

    The backend follows ``device``: NCCL for CUDA (each process on GPU ``LOCAL_RANK``), gloo
    otherwise. Calling it again in a process that has joined returns the same world.

    Raises:
        ValueError: ``WORLD_SIZE`` says several processes but torch has no distributed support.
    """
    world_size = world_size_from_environment()
    if world_size == 1 or (dist.is_available() and dist.is_initialized()):
        return current_world()
    if not dist.is_available():
        raise ValueError(f"WORLD_SIZE={world_size} but this torch build has no torch.distributed")
    if torch.device(device).type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend="nccl")
    else:
        dist.init_process_group(backend="gloo")
    return current_world()


def shutdown() -> None:
    """Leave the process group, if this process joined one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()

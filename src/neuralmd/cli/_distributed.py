"""Data-parallel training with PyTorch DDP, launched by ``torchrun``.

``torchrun --nproc_per_node=2 -m neuralmd.cli train ...`` (or with ``--nnodes``,
``--rdzv_endpoint`` ... for several machines) sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
:func:`setup` reads them and joins the process group (gloo on CPU, nccl on GPU). Without them
training runs in one process and every helper here is a no-op.

Equivalence with one process: each optimiser step takes one *global* batch of
``trainer.batch_size`` complexes; a ``DistributedSampler`` deals them out so that rank r gets
every world-th complex of it, each rank's loss (a mean over its atoms) is rescaled by its share of
the global batch's atoms, and DDP averages the gradients over ranks: the result is the gradient
of the mean over the global batch, what one process computes on the whole batch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from . import UsageError


@dataclass(frozen=True)
class Context:
    """Where this process sits: ``rank`` of ``world`` processes, on ``device``."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Whether this process logs, evaluates and writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def setup(device: torch.device) -> Context:
    """Join the process group when launched by torchrun; pick this rank's GPU.

    Args:
        device: the device the config asked for (already resolved from ``auto``).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(0, 1, device)
    rank = int(os.environ["RANK"])
    if device.type == "cuda":
        # One GPU per process: the local rank picks it on multi-GPU machines.
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Context(rank, world, device)


def teardown(ctx: Context) -> None:
    """Leave the process group (only if :func:`setup` joined one)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def local_batch_size(global_batch: int, ctx: Context) -> int:
    """Complexes per rank per step; the global batch must split evenly so gradients match."""
    if global_batch % ctx.world:
        raise UsageError(f"trainer.batch_size={global_batch} must be divisible by the number of "
                         f"processes ({ctx.world}) so every step averages the same global batch")
    return global_batch // ctx.world


class LossModule(nn.Module):
    """Wraps ``model.loss`` as ``forward`` so DDP's gradient hooks see every training step.

    DDP only synchronises gradients of computations that go through its ``forward``; dynamics
    models are trained through ``loss``, not ``forward``, hence this adapter.
    """

    def __init__(self, model: nn.Module, loss_fn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, *args, **kwargs):
        return self.loss_fn(self.model, *args, **kwargs)


def wrap(module: nn.Module, ctx: Context) -> nn.Module:
    """DDP-wrap ``module`` when running distributed, else return it unchanged."""
    if not ctx.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    # find_unused_parameters: optional sub-networks (velocity mapping, SDE diffusion in an ODE
    # window of length 0) may receive no gradient in a step; DDP must not wait for them.
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)


def all_sum(value: float, ctx: Context) -> float:
    """Sum of a Python float over ranks."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t)


def all_mean(value: float, ctx: Context) -> float:
    """Mean of a Python float over ranks (for logging the global loss)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t) / ctx.world


def broadcast(obj: Any, ctx: Context) -> Any:
    """Rank 0's ``obj`` (any picklable value) on every rank, e.g. its validation scores, so that
    decisions taken from them (schedule, early stopping) agree."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: Context) -> None:
    """Wait for all ranks (e.g. until rank 0 has written the checkpoint)."""
    if ctx.distributed:
        dist.barrier()

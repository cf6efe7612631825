"""Training windows that do not depend on how complexes are grouped into batches or processes.

``DynamicsModel.loss`` samples one random window per complex from a single generator for the
whole batch, so the same complex would train on a different window in a batch of 4 than in a batch
of 2 (one DDP rank's half). Cutting each record to its window first, with a generator of its own,
leaves the model exactly one window to choose and makes the loss terms of a complex independent
of its batch-mates, its rank and everything drawn before.
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import torch
from torch import nn

_SEED_MIX = 1_000_003  # odd multipliers keep (seed, a, b) -> generator seed one-to-one


def seeded_generator(seed: int, a: int, b: int) -> torch.Generator:
    """A CPU generator for ``(seed, a, b)``, e.g. (seed, epoch, complex); works for GPU data."""
    return torch.Generator().manual_seed(((seed * _SEED_MIX + a) * _SEED_MIX + b) % 2**63)


def crop_window(record: Any, window: int, generator: torch.Generator) -> Any:
    """The record cut to one random training window: snapshots ``s - 1 .. s + window``.

    ``s`` is uniform in ``[1, T - 1 - window]`` as in Algorithm 1 (``s - 1`` supplies the initial
    finite-difference velocity). Given this crop, ``DynamicsModel.loss`` has exactly one window to
    choose, so which window a complex trains on no longer depends on its batch-mates.
    """
    pos = record["ligand"].pos
    start = int(torch.randint(1, pos.shape[1] - window, (1,), generator=generator))
    out = copy.copy(record)          # new stores, shared tensors: the record itself is untouched
    out["ligand"].pos = pos[:, start - 1:start + window + 1]
    return out


def window_loss(model: nn.Module, records: Sequence[Any], indices: Sequence[int], seed: int,
                epoch: int, step: int, window: int, kind: str, device: torch.device,
                per_complex: bool, samples: int | None = None) -> tuple[torch.Tensor, float]:
    """Training loss of one local batch and its weight (atoms, or complexes when ``per_complex``).

    ``kind`` is Eq. 13's ``mae``/``mse`` or ``energy``, the energy score of ``samples`` rollouts
    per window (``samples`` is passed to the model for ``energy`` only). Windows come from
    per-complex generators ``(seed, epoch, index)``; the model's own randomness (SDE noise, keyed
    per complex id) from one generator ``(seed, epoch, step)`` shared by all ranks.
    ``per_complex=True`` calls the model once per complex and averages: slower, but exact for
    models whose loss draws batch-shaped noise (DenoisingLD).
    """
    from torch_geometric.data import Batch

    shortest = min(int(records[i]["ligand"].pos.shape[1]) for i in indices)
    if shortest < 3:
        raise ValueError(f"training needs trajectories of at least 3 snapshots, got {shortest}")
    window = max(1, min(window, shortest - 2))
    crops = [crop_window(records[i], window, seeded_generator(seed, epoch, i)) for i in indices]
    options = {"samples": samples} if kind == "energy" else {}
    if per_complex:
        losses = [model.loss(c.to(device), window=window, loss=kind, generator=seeded_generator(seed, epoch, i),
                             **options) for c, i in zip(crops, indices)]
        return torch.stack(losses).mean(), float(len(crops))
    batch = Batch.from_data_list(crops).to(device)
    loss = model.loss(batch, window=window, loss=kind, generator=seeded_generator(seed, -1 - epoch, step),
                      **options)
    return loss, float(batch["ligand"].z.shape[0])

"""The loss of one training step: the library's windows and noise, keyed by (seed, epoch, complex).

Every random choice of a training step is made by the library per complex
(``neuralmd.dynamics._windows``, ``_noise``): the window a complex trains on and the noise its
rollouts draw depend on one seed per call and on the complex's id. The trainer passes a generator
that depends only on ``(seed, epoch)``, so a complex's loss terms in an epoch are the same in any
batch, at any step, on any DDP rank, and a resumed run draws what the uninterrupted run drew.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from neuralmd.dynamics._windows import crop_windows

_SEED_MIX = 1_000_003  # odd multipliers keep (seed, a, b) -> generator seed one-to-one


def seeded_generator(seed: int, a: int, b: int = 0) -> torch.Generator:
    """A CPU generator for ``(seed, a, b)``, e.g. (seed, epoch); works for GPU data."""
    return torch.Generator().manual_seed(((seed * _SEED_MIX + a) * _SEED_MIX + b) % 2**63)


def window_loss(model: nn.Module, records: Sequence[Any], indices: Sequence[int], seed: int,
                epoch: int, window: int, kind: str, device: torch.device,
                samples: int | None = None) -> tuple[torch.Tensor, float]:
    """Training loss of one local batch and its weight (its number of ligand atoms).

    ``kind`` is Eq. 13's ``mae``/``mse`` or ``energy``, the energy score of ``samples`` rollouts
    per window (``samples`` is passed to the model for ``energy`` only). The records are cut to
    their windows first (:func:`crop_windows`), so trajectories of different lengths share a batch
    and only the window travels to the device; the model's loss then has exactly that window.
    """
    from torch_geometric.data import Batch

    crops = crop_windows([records[i] for i in indices], window, seeded_generator(seed, epoch))
    batch = Batch.from_data_list(crops).to(device)
    options = {"samples": samples} if kind == "energy" else {}
    loss = model.loss(batch, window=window, loss=kind, generator=seeded_generator(seed, epoch), **options)
    return loss, float(batch["ligand"].z.shape[0])

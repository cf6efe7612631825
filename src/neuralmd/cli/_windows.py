"""The loss of one training step: the library's windows and noise, keyed by (seed, epoch, complex).

Every random choice of a training step is made by the library per complex
(``neuralmd.dynamics._windows``, ``_noise``): the window a complex trains on and the noise its
rollouts draw depend on one seed per call and on the complex's id. The trainer passes a generator
that depends only on ``(seed, epoch)``, so a complex's loss terms in an epoch are the same in any
batch, at any step, on any DDP rank, and a resumed run draws what the uninterrupted run drew.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from omegaconf import DictConfig
from torch import nn

from . import UsageError

from neuralmd.dynamics._base import LOSSES
from neuralmd.dynamics._windows import crop_windows

_SEED_MIX = 1_000_003  # odd multipliers keep (seed, a, b) -> generator seed one-to-one


def seeded_generator(seed: int, a: int, b: int = 0) -> torch.Generator:
    """A CPU generator for ``(seed, a, b)``, e.g. (seed, epoch); works for GPU data."""
    return torch.Generator().manual_seed(((seed * _SEED_MIX + a) * _SEED_MIX + b) % 2**63)


@dataclass(frozen=True)
class LossOptions:
    """Everything a training step's loss needs besides the model, the records and the epoch.

    Attributes:
        seed: ``trainer.seed``; with the epoch it seeds every window and noise draw.
        window: future snapshots per training window (Algorithm 1), ``trainer.window``.
        loss: ``mae`` / ``mse`` (Eq. 13) or ``energy`` (energy score of ``samples`` rollouts).
        device: where the batch goes.
        samples: rollouts per window for ``loss="energy"``, else None: an integer >= 2, since the
            energy score's spread term needs two samples (with one the noise would be trained
            towards zero).
    """

    seed: int
    window: int
    loss: str
    device: torch.device
    samples: int | None = None

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise UsageError(f"trainer.loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.loss == "energy" and (isinstance(self.samples, bool) or not isinstance(self.samples, int)
                                      or self.samples < 2):
            raise UsageError(f"trainer.samples must be an integer >= 2 for trainer.loss=energy, got {self.samples!r}")

    @classmethod
    def from_config(cls, tcfg: DictConfig, device: torch.device) -> "LossOptions":
        """The options of a ``trainer`` config (``trainer.samples`` only counts for ``energy``)."""
        loss = str(tcfg.loss)
        return cls(seed=int(tcfg.seed), window=int(tcfg.window), loss=loss, device=device,
                   samples=tcfg.get("samples") if loss == "energy" else None)

    def model_options(self) -> dict[str, Any]:
        """Keyword arguments of ``model.loss`` besides the batch and the generator."""
        extra = {"samples": self.samples} if self.loss == "energy" else {}
        return {"window": self.window, "loss": self.loss, **extra}


def window_loss(model: nn.Module, records: Sequence[Any], *, epoch: int,
                options: LossOptions) -> tuple[torch.Tensor, float]:
    """Training loss of one local batch of ``records`` and its weight (its number of ligand atoms).

    The records are cut to their windows first (:func:`crop_windows`), so trajectories of
    different lengths share a batch and only the windows travel to the device; the model's loss
    then has exactly those windows to choose.
    """
    from torch_geometric.data import Batch

    crops = crop_windows(records, options.window, seeded_generator(options.seed, epoch))
    batch = Batch.from_data_list(crops).to(options.device)
    loss = model.loss(batch, generator=seeded_generator(options.seed, epoch), **options.model_options())
    return loss, float(batch["ligand"].z.shape[0])

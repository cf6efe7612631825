"""The equilibrium a Langevin model samples, fitted directly: denoising score matching of F / kT.

Underdamped Langevin dynamics with fluctuation-dissipation (``_langevin``) has the stationary
density ``p(x) ∝ exp(-U(x) / kT)`` for a conservative force ``F = -∇U`` whatever the friction, so
``F(x) / kT`` is the score ``∇ log p(x)`` of the positions it samples in the long run. Snapshots of
an equilibrium MD trajectory are draws from the density the model should sample, and denoising
score matching (Vincent 2011) fits a score to draws without knowing their density: perturb a
snapshot ``x`` by ``sigma * eps`` (eps standard normal per coordinate) and regress the score at
``x + sigma eps`` on ``-eps / sigma``. The loss used here is that regression scaled by ``sigma``,

    E || sigma F(x + sigma eps) / kT + eps ||^2        (mean over atoms and coordinates)

which is 1 for a zero force and, for Gaussian positions of variance v per coordinate, has its
minimum ``v / (v + sigma^2)`` at the Gaussian's score smoothed by the noise. It teaches the force
field to confine the ligand where the MD put it: the part of the dynamics a trajectory loss over a
few snapshots learns slowly (docs/results.md, the Langevin ablation). kT enters detached: the
dynamics' losses set the time scale (kT and the friction), this one the shape of the equilibrium.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .._format import check_trajectory, ligand_batch
from ._noise import complex_noise


def perturbed_snapshots(data, *, snapshots: int, noise: float,
                        generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``snapshots`` random snapshots of every complex of ``data``, each perturbed by Gaussian noise.

    The snapshots and the noise of a complex come from its own stream (``_noise.complex_noise``),
    so they do not depend on the other complexes of the batch.

    Args:
        data: a record or a PyG ``Batch`` of records with trajectories (N, T, 3).
        snapshots: S, snapshots drawn per complex (uniformly, with replacement).
        noise: sigma in Å, per coordinate.

    Returns:
        ``x`` (S, N, 3) the chosen snapshots, ``eps`` (S, N, 3) the standard-normal noise, and
        ``index`` (S, B) the snapshot each complex drew for each of the S rows.
    """
    pos = check_trajectory(data)
    batch, _ = ligand_batch(data)
    streams = complex_noise(data, generator, pos)
    index = torch.stack([streams.integers(pos.shape[1]) for _ in range(snapshots)])          # (S, B)
    atoms = torch.arange(pos.shape[0], device=pos.device)
    x = pos[atoms.unsqueeze(0), index[:, batch]]                                           # (S, N, 3)
    eps = torch.stack([streams.sample(3) for _ in range(snapshots)])
    return x, eps, index


def denoising_score_loss(scaled_force, x: Tensor, eps: Tensor, *, noise: float) -> Tensor:
    """``mean || noise * scaled_force(x + noise * eps) + eps ||^2`` (see the module docstring).

    Args:
        scaled_force: ``(S, N, 3) -> (S, N, 3)``, the model's F / kT at perturbed positions.
        x, eps: (S, N, 3) snapshots and standard-normal noise (:func:`perturbed_snapshots`).
        noise: sigma in Å.
    """
    return (noise * scaled_force(x + noise * eps) + eps).square().mean()

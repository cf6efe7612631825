"""DenoisingLD baseline: x_t -> x_{t+1} as denoising diffusion, sampled by annealed Langevin dynamics."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._base import DynamicsModel, complex_ids, ligand_batch, sample_windows, trajectory_loss
from ._noise import ComplexNoise, complex_seeds, draw_seed, equivariant_noise
from ._second_order import LigandFactory, default_ligand_factory


class DenoisingLD(DynamicsModel):
    """Noise-conditional score model of ``p(x_{t+1} | x_t)`` on the BindingNet backbone.

    Score: ``s(y, sigma | x_t) = [BindingNet(y) + BindingNet-Ligand(z, y, vec=(y - x_t) / sigma)] / sigma``
    (Å^-1): the protein-aware force field at the noisy pose ``y`` plus a ligand net that sees the
    displacement from the known pose, scaled by 1/sigma as in noise-conditional score networks.
    Training is denoising score matching, ``|sigma s(x_{t+1} + sigma eps) + eps|`` at a random
    level per complex. Sampling starts at ``x_t + sigma_1 eps`` and runs ``steps`` annealed
    Langevin steps, ``y += a s + sqrt(2 a) eps`` with ``a = step_lr * sigma_i^2``, over a
    geometric ladder sigma_max -> sigma_min, then one Tweedie denoising step ``y += sigma_L^2 s``.

    For a fixed seed the samples are equivariant: the Gaussian numbers are drawn as per-atom
    scalars (one stream per complex, see ``_noise``) and turned into vectors in an equivariant
    per-atom frame of the current pose.

    Args:
        force_field: a BindingNet.
        steps: Langevin steps (= noise levels) per predicted snapshot (default 10).
        sigma_max, sigma_min: noise ladder in Å.
        step_lr: Langevin step factor.
        ligand_factory: builds the BindingNet-Ligand used for conditioning on x_t.
        cache_protein: encode the rigid protein once per rollout (True) or at every score call.
    """

    integer_times = True

    def __init__(self, force_field: nn.Module, steps: int = 10, sigma_max: float = 1.0,
                 sigma_min: float = 0.01, step_lr: float = 0.5,
                 ligand_factory: LigandFactory | None = None, cache_protein: bool = True) -> None:
        super().__init__()
        if steps < 1 or not 0 < sigma_min <= sigma_max:
            raise ValueError("need steps >= 1 and 0 < sigma_min <= sigma_max")
        self.force_field = force_field
        self.conditioner = (ligand_factory or default_ligand_factory(force_field))()
        ratio = sigma_min / sigma_max
        sigmas = [sigma_max * ratio ** (i / max(steps - 1, 1)) for i in range(steps)]
        self.register_buffer("sigmas", torch.tensor(sigmas), persistent=False)
        self.step_lr = float(step_lr)
        self.cache_protein = cache_protein

    def score(self, data, protein, y: Tensor, x_prev: Tensor, sigma: Tensor | float) -> Tensor:
        """(N, 3) score of ``p_sigma(y | x_prev)``; sigma is a float or (N, 1) per atom."""
        if protein is None:
            protein = self.force_field.encode_protein(data)
        batch, _ = ligand_batch(data)
        _, cond = self.conditioner(data["ligand"].z, y, batch=batch, vec=(y - x_prev) / sigma)
        return (self.force_field(data, y, protein=protein) + cond) / sigma

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) sampled positions at integer relative times (T,)."""
        steps = times.round().long()
        batch, num = ligand_batch(data)
        noise = ComplexNoise(complex_seeds(draw_seed(generator), complex_ids(data, num)),
                             torch.bincount(batch, minlength=num).tolist(), x0.dtype, x0.device)
        protein = self.force_field.encode_protein(data) if self.cache_protein else None
        sigmas = self.sigmas.tolist()
        out, x = [x0], x0
        for _ in range(int(steps[-1])):
            y = x + sigmas[0] * equivariant_noise(x, batch, num, noise.sample(3))
            for sigma in sigmas:
                a = self.step_lr * sigma**2
                eps = equivariant_noise(y, batch, num, noise.sample(3))
                y = y + a * self.score(data, protein, y, x, sigma) + math.sqrt(2 * a) * eps
            x = y + sigmas[-1] ** 2 * self.score(data, protein, y, x, sigmas[-1])
            out.append(x)
        return torch.stack(out)[steps]

    def loss(self, data, window: int = 5, loss: str = "mae",
             generator: torch.Generator | None = None) -> Tensor:
        """Denoising score matching on the ``window`` consecutive pairs of one random window per complex.

        Mean over pairs, atoms and coordinates of ``|sigma s + eps|`` ("mae") or its square ("mse"),
        with one noise level per complex and pair drawn uniformly from the ladder.
        """
        _, _, targets, w = sample_windows(data, window, generator)
        batch, num = ligand_batch(data)
        protein = self.force_field.encode_protein(data) if self.cache_protein else None
        terms = []
        for k in range(w):
            level = torch.randint(0, self.sigmas.numel(), (num,), generator=generator)
            sigma = self.sigmas.to(targets.dtype)[level.to(targets.device)][batch].unsqueeze(-1)
            eps = torch.randn(targets[k].shape, generator=generator, dtype=targets.dtype).to(targets.device)
            y = targets[k + 1] + sigma * eps
            residual = sigma * self.score(data, protein, y, targets[k], sigma) + eps
            terms.append(trajectory_loss(residual, torch.zeros_like(residual), loss))
        return torch.stack(terms).mean()

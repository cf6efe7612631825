"""DenoisingLD baseline: x_t -> x_{t+1} as denoising diffusion, sampled by annealed Langevin dynamics."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .._format import ligand_batch
from ._base import DynamicsModel, trajectory_loss
from ._noise import complex_noise, equivariant_noise
from ._second_order import LigandFactory, default_ligand_factory
from ._windows import sample_windows


class DenoisingLD(DynamicsModel):
    """Noise-conditional score model of ``p(x_{t+1} | x_t)`` on the BindingNet backbone.

    The score is written through a denoiser ``D`` (an estimate of ``x_{t+1}`` from a noisy pose
    ``y = x_{t+1} + sigma eps``), with the preconditioning of Karras et al. (2022) on the
    displacement ``u = y - x_t`` whose typical size is ``sigma_data``:

        D(y, sigma) = x_t + c_skip u + c_out [BindingNet(y) + BindingNet-Ligand(z, y, vec=c_in u)],
        s(y, sigma) = (D - y) / sigma^2,

    ``c_skip = sd^2 / (sigma^2 + sd^2)``, ``c_out = sigma sd / sqrt(sigma^2 + sd^2)``,
    ``c_in = 1 / sqrt(sigma^2 + sd^2)``. An untrained model then denoises towards ``x_t`` instead of
    amplifying 1/sigma-scaled outputs, and the network's target has unit scale at every level.
    Training is denoising score matching in this form, ``|D - x_{t+1}| / c_out`` at a random
    level per complex. Sampling starts at ``x_t + sigma_1 eps`` and takes ``steps`` annealed
    Langevin steps ``y += a s + sqrt(2 a) eps``, ``a = step_lr sigma_i^2``, down a geometric ladder
    sigma_max -> sigma_min (Å), then a Tweedie step ``y += sigma_L^2 s`` (that is, ``y = D``).

    For a fixed seed the samples are equivariant: the Gaussian numbers are drawn as per-atom
    scalars (one stream per complex, see ``_noise``) and turned into vectors in an equivariant
    per-atom frame of the current pose.

    Args:
        force_field: a BindingNet.
        steps: Langevin steps (= noise levels) per predicted snapshot (default 10).
        sigma_max, sigma_min: noise ladder in Å. sigma_data: typical displacement per snapshot, Å.
        step_lr: Langevin step factor (fraction of the way to D per step).
        ligand_factory: builds the BindingNet-Ligand used for conditioning on x_t.
    """

    integer_times = True

    stochastic = True

    def __init__(self, force_field: nn.Module, *, steps: int = 10, sigma_max: float = 1.0,
                 sigma_min: float = 0.01, sigma_data: float = 0.5, step_lr: float = 0.5,
                 ligand_factory: LigandFactory | None = None) -> None:
        super().__init__()
        if steps < 1 or not 0 < sigma_min <= sigma_max or sigma_data <= 0:
            raise ValueError("need steps >= 1, 0 < sigma_min <= sigma_max and sigma_data > 0")
        self.force_field = force_field
        self.conditioner = (ligand_factory or default_ligand_factory(force_field))()
        ratio = sigma_min / sigma_max
        sigmas = [sigma_max * ratio ** (i / max(steps - 1, 1)) for i in range(steps)]
        self.register_buffer("sigmas", torch.tensor(sigmas), persistent=False)
        self.sigma_data, self.step_lr = float(sigma_data), float(step_lr)

    def _c_out(self, sigma: Tensor | float) -> Tensor | float:
        return sigma * self.sigma_data / (sigma**2 + self.sigma_data**2) ** 0.5

    def denoise(self, data, protein, y: Tensor, x_prev: Tensor, sigma: Tensor | float) -> Tensor:
        """(N, 3) estimate of ``x_{t+1}`` from the noisy pose y; sigma a float or (N, 1) per atom."""
        batch, _ = ligand_batch(data)
        var = sigma**2 + self.sigma_data**2
        u = y - x_prev
        _, cond = self.conditioner(data["ligand"].z, y, batch=batch, vec=u / var**0.5)
        out = self.force_field(data, y, protein=protein) + cond
        return x_prev + (self.sigma_data**2 / var) * u + self._c_out(sigma) * out

    def score(self, data, protein, y: Tensor, x_prev: Tensor, sigma: Tensor | float) -> Tensor:
        """(N, 3) score of ``p_sigma(y | x_prev)`` in 1/Å: ``(D - y) / sigma^2``."""
        return (self.denoise(data, protein, y, x_prev, sigma) - y) / sigma**2

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) sampled positions at integer relative times (T,)."""
        steps = times.round().long()
        batch, num = ligand_batch(data)
        noise = complex_noise(data, generator, x0)
        protein = self.protein_encoding(data)
        sigmas = self.sigmas.tolist()
        out, x = [x0], x0
        for _ in range(int(steps[-1])):
            y = x + sigmas[0] * equivariant_noise(x, batch, num, noise.sample(3))
            for sigma in sigmas:
                a = self.step_lr * sigma**2
                eps = equivariant_noise(y, batch, num, noise.sample(3))
                y = y + a * self.score(data, protein, y, x, sigma) + math.sqrt(2 * a) * eps
            x = self.denoise(data, protein, y, x, sigmas[-1])  # Tweedie: y + sigma^2 s
            out.append(x)
        return torch.stack(out)[steps]

    def loss(self, data, window: int = 5, loss: str = "mae", generator: torch.Generator | None = None,
             *, samples: int | None = None) -> Tensor:
        """Denoising score matching on the ``window`` consecutive pairs of one random window per complex.

        Mean over pairs, atoms and coordinates of ``|D - x_{t+1}| / c_out`` ("mae") or its square
        ("mse"), with one noise level per complex and pair drawn uniformly from the ladder. Window,
        levels and noise come from per-complex streams (``_noise.call_seeds``), so the loss of a
        complex does not depend on its batch. A score model is not trained through its sampler, so
        ``loss="energy"`` (and ``samples``) is refused.
        """
        if loss == "energy" or samples is not None:
            raise ValueError("DenoisingLD is trained by denoising score matching (loss='mae' or 'mse'); "
                             "loss='energy' with samples is for models trained through their rollouts")
        _, _, targets, w, _ = sample_windows(data, window, generator)
        batch, _ = ligand_batch(data)
        protein = self.protein_encoding(data)
        noise = complex_noise(data, generator, targets)
        terms = []
        for k in range(w):
            level = noise.integers(self.sigmas.numel())
            sigma = self.sigmas.to(targets.dtype)[level][batch].unsqueeze(-1)
            eps = noise.sample(3)
            denoised = self.denoise(data, protein, targets[k + 1] + sigma * eps, targets[k], sigma)
            residual = (denoised - targets[k + 1]) / self._c_out(sigma)
            terms.append(trajectory_loss(residual, torch.zeros_like(residual), loss))
        return torch.stack(terms).mean()

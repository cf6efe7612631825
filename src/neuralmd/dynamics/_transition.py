"""The Gaussian one-step transition of underdamped Langevin dynamics, for training by likelihood.

Over one interval ``dt`` with the acceleration ``a = F(x0) / m`` held at its start value (the one
approximation), per coordinate of an atom with friction ``gamma`` and velocity diffusion ``b^2``
(``dv = (a - gamma v) dt + b dW``; ``b^2 = 2 gamma kT / m`` under fluctuation-dissipation), the
position ``x(dt)`` is exactly Gaussian with

    mean = x0 + v0 dt phi1(u) + a dt^2 phi2(u),      var = b^2 dt^3 psi(u),      u = gamma dt,
    phi1 = (1 - e^-u) / u,   phi2 = (u - 1 + e^-u) / u^2,   psi = (2u - 3 + 4 e^-u - e^-2u) / (2 u^3)

(the integrated Ornstein-Uhlenbeck velocity). At ``u -> 0`` these tend to 1, 1/2 and 1/3 (free
flight with Brownian velocity). The factors are computed in float64 whatever the inputs' dtype
(psi's closed form cancels: its relative error is ~eps / u^3, 2 % in float32 at u = 0.02), with their
Taylor series below ``SERIES_BELOW``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

#: Below this u = gamma dt the factors use four terms of their Taylor series: there both the
#: series' truncation and the closed forms' float64 cancellation are ~1e-10 relative.
SERIES_BELOW = 0.01


def _factors(u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """phi1, phi2, psi of ``u`` (>= 0), float64, each finite and smooth at 0."""
    u = u.double()
    small = u < SERIES_BELOW
    safe = torch.where(small, torch.ones_like(u), u)  # the closed forms never see u near 0
    decay = torch.exp(-safe)
    series = lambda c0, c1, c2, c3: c0 + u * (c1 + u * (c2 + u * c3))  # noqa: E731
    phi1 = torch.where(small, series(1.0, -1 / 2, 1 / 6, -1 / 24), -torch.expm1(-safe) / safe)
    phi2 = torch.where(small, series(1 / 2, -1 / 6, 1 / 24, -1 / 120), (safe + torch.expm1(-safe)) / safe.square())
    psi = torch.where(small, series(1 / 3, -1 / 4, 7 / 60, -1 / 24),
                      (2 * safe - 3 + 4 * decay - decay.square()) / (2 * safe.pow(3)))
    return phi1, phi2, psi


def langevin_transition(x0: Tensor, v0: Tensor, acceleration: Tensor, gamma: Tensor | None,
                        diffusion: Tensor, dt: float) -> tuple[Tensor, Tensor]:
    """Mean (N, 3) and per-coordinate variance (N, 1) of the position ``dt`` after ``x0``, ``v0``.

    Args:
        x0, v0, acceleration: (N, 3); the acceleration ``F(x0) / m`` is held over the interval.
        gamma: (N, 1) friction (1 / time unit), or None for none.
        diffusion: (N, 1) ``b^2``, the velocity noise's variance per unit time.
        dt: the interval, in the dynamics' time units.

    Example (no friction, no force: free flight plus the Brownian velocity's b^2 dt^3 / 3):
        >>> mean, var = langevin_transition(torch.zeros(1, 3), torch.ones(1, 3), torch.zeros(1, 3),
        ...                                 None, torch.full((1, 1), 3.0), dt=2.0)
        >>> mean.tolist(), var.tolist()
        ([[2.0, 2.0, 2.0]], [[8.0]])
    """
    u = torch.zeros_like(diffusion) if gamma is None else gamma * dt
    phi1, phi2, psi = (f.to(x0.dtype) for f in _factors(u))
    mean = x0 + v0 * (dt * phi1) + acceleration * (dt * dt * phi2)
    return mean, diffusion * (dt ** 3) * psi


def gaussian_nll(target: Tensor, mean: Tensor, var: Tensor) -> Tensor:
    """Mean over atoms and coordinates of ``-log N(target; mean, var)`` (nats; var (N, 1) per atom)."""
    return 0.5 * ((target - mean).square() / var + torch.log(2 * math.pi * var)).mean()

"""The two parameter-free baselines the paper omits: last known pose and constant velocity."""
from __future__ import annotations

import torch
from torch import Tensor

from ._base import DynamicsModel


class StaticBaseline(DynamicsModel):
    """Predicts the last known pose at every time: ``x_hat(t) = x(t0)``.

    Any model worth training must beat it; it is exact on a ligand that does not move.
    """

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) copies of x0."""
        return x0.unsqueeze(0).expand(times.shape[0], -1, -1).clone()


class LinearBaseline(DynamicsModel):
    """Constant velocity: ``x_hat(t) = x(t0) + (t - t0) * (x(t0) - x(t0 - 1))``.

    Exact on uniform straight-line motion. At ``t0 = 0`` the velocity is zero (no earlier
    snapshot), so it reduces to :class:`StaticBaseline` there.
    """

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) positions along the straight line through x0 with velocity v0."""
        return x0.unsqueeze(0) + times.to(x0.dtype).view(-1, 1, 1) * v0.unsqueeze(0)

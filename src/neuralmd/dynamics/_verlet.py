"""VerletMD baseline: BindingNet as an energy model integrated with velocity Verlet."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ._base import DynamicsModel


class VerletMD(DynamicsModel):
    """Velocity Verlet on forces ``F = -dE/dx`` of ``BindingNet.energy`` (paper section 2.3).

    Each snapshot interval is split into ``round(1 / step_size)`` Verlet steps:
    ``x += v dt + a dt^2 / 2``, ``a' = F(x) / m``, ``v += (a + a') dt / 2``, with m in amu and
    time in snapshot intervals. Forces come from autograd; when gradients are being recorded
    (training through ``loss``) the force graph is kept (``create_graph=True``) so the loss
    reaches the energy's parameters, otherwise every step is detached to keep rollouts cheap.

    Args:
        force_field: a BindingNet with ``energy(data, x, protein=...) -> (B,)``.
        step_size: Verlet step in snapshot intervals; 1 / step_size must be an integer.
    """

    integer_times = True
    rollout_in_inference_mode = False  # its forces are autograd gradients

    def __init__(self, force_field: nn.Module, step_size: float = 0.5) -> None:
        super().__init__()
        substeps = round(1.0 / step_size)
        if step_size <= 0 or abs(substeps * step_size - 1.0) > 1e-9:
            raise ValueError(f"1 / step_size must be a positive integer, got step_size={step_size}")
        self.force_field = force_field
        self.step_size, self.substeps = float(step_size), substeps

    def forces(self, data, x: Tensor, protein, create_graph: bool) -> Tensor:
        """(N, 3) ``-grad_x sum_b E_b`` at positions x (N, 3)."""
        with torch.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            energy = self.force_field.energy(data, x, protein=protein).sum()
            (grad,) = torch.autograd.grad(energy, x, create_graph=create_graph)
        return -grad

    def predict(self, data, x0: Tensor, v0: Tensor, times: Tensor,
                generator: torch.Generator | None = None) -> Tensor:
        """(T, N, 3) positions at integer relative times (T,)."""
        train = torch.is_grad_enabled()
        steps = times.round().long()
        protein = self.protein_encoding(data)
        inv_mass = (1.0 / data["ligand"].mass).unsqueeze(-1)
        dt = self.step_size
        x, v = x0, v0
        a = self.forces(data, x, protein, train) * inv_mass
        out = [x0]
        remaining = int(steps[-1]) * self.substeps
        for _ in range(int(steps[-1])):
            for _ in range(self.substeps):
                x = x + v * dt + 0.5 * a * dt * dt
                remaining -= 1
                if remaining:  # the force at the last position would move only the final velocity
                    a_new = self.forces(data, x, protein, train) * inv_mass
                    v = v + 0.5 * (a + a_new) * dt
                    a = a_new
                if not train:
                    x, v, a = x.detach(), v.detach(), a.detach()
            out.append(x)
        return torch.stack(out)[steps]

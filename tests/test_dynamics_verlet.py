"""dynamics/_verlet.py: velocity Verlet on -dE/dx."""
from __future__ import annotations

import pytest
import torch
from _dynamics_toys import ToyForceField, make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import LinearBaseline, VerletMD


class NoEnergy(torch.nn.Module):
    """A force field whose energy is constant: no force, free flight."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.0, dtype=torch.float64))

    def encode_protein(self, data):
        return None

    def energy(self, data, x, protein=None):
        return (self.scale * x.sum() * 0).reshape(1)


def test_without_forces_verlet_is_constant_velocity():
    data = make_record(0, motion="linear")
    out = VerletMD(NoEnergy(), step_size=0.25).rollout(data, [2, 3, 5])
    torch.testing.assert_close(out, LinearBaseline().rollout(data, [2, 3, 5]), rtol=0, atol=1e-12)


def test_forces_are_minus_the_energy_gradient_and_substeps_follow_the_step():
    ff = ToyForceField().double()
    data = make_record(0)
    model = VerletMD(ff, step_size=0.5)
    assert model.substeps == 2
    x = data["ligand"].pos[:, 0].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(ff.energy(data, x).sum(), x)
    torch.testing.assert_close(model.forces(data, x.detach(), ff.encode_protein(data), False), -grad)
    with pytest.raises(ValueError, match="1 / step_size must be a positive integer"):
        VerletMD(ff, step_size=0.4)


def test_training_reaches_the_energy_parameters():
    ff = ToyForceField().double()
    VerletMD(ff, step_size=0.5).loss(make_record(0), window=2, generator=torch.Generator().manual_seed(0)).backward()
    assert ff.log_k.grad is not None and ff.log_k.grad != 0

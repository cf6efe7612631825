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


def _velocity_verlet(model, data, start, last, *, create_graph):
    """Positions at snapshots start..last by the textbook loop, every force evaluated (the final
    one too), as VerletMD integrated before it left that one out."""
    pos = data["ligand"].pos
    protein = model.force_field.encode_protein(data)
    inv_mass = (1.0 / data["ligand"].mass).unsqueeze(-1)
    dt = model.step_size
    x, v = pos[:, start], pos[:, start] - pos[:, start - 1]
    a = model.forces(data, x, protein, create_graph) * inv_mass
    out = [x]
    for _ in range(last - start):
        for _ in range(model.substeps):
            x = x + v * dt + 0.5 * a * dt * dt
            a_new = model.forces(data, x, protein, create_graph) * inv_mass
            v, a = v + 0.5 * (a + a_new) * dt, a_new
        out.append(x)
    return torch.stack(out)


@pytest.mark.parametrize("train", [False, True])
def test_the_last_force_moves_only_the_final_velocity_and_is_left_out(monkeypatch, train):
    ff = ToyForceField().double()
    model = VerletMD(ff, step_size=0.5)
    data = make_record(0)
    calls = []
    forces = VerletMD.forces
    monkeypatch.setattr(VerletMD, "forces", lambda self, *a: calls.append(1) or forces(self, *a))
    with torch.set_grad_enabled(train):
        out = model.rollout(data, [1, 2, 4])
        rollout_calls = len(calls)
        reference = _velocity_verlet(model, data, 1, 4, create_graph=train)[[0, 1, 3]]
    assert torch.equal(out, reference)
    assert rollout_calls == len(calls) - rollout_calls - 1 == 3 * 2  # 6 steps: the start's force and 5 more

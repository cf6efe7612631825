"""The Gaussian one-step transition of Langevin NeuralMD and its likelihood loss (``_transition``)."""
from __future__ import annotations

import pytest
import torch
from _dynamics_toys import ToyForceField, make_batch, make_record, toy_factory
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)
from torch import nn

from neuralmd.dynamics import NeuralMD, StaticBaseline
from neuralmd.dynamics._transition import SERIES_BELOW, langevin_transition
from neuralmd.testing import random_rigid_motion, transform_record

F64 = torch.float64


def _exact_ou_samples(x0, v0, acceleration, gamma, diffusion, dt, samples, steps, generator):
    """Positions at dt of ``samples`` paths of dv = (a - gamma v) dt + b dW, dx = v dt: the
    velocity's exact Ornstein-Uhlenbeck update per small step, the position by the trapezoid rule."""
    h = dt / steps
    decay = torch.exp(torch.tensor(-gamma * h, dtype=F64))
    spread = (diffusion * -torch.expm1(torch.tensor(-2 * gamma * h, dtype=F64)) / (2 * gamma)).sqrt()
    x, v = x0.expand(samples, 3).clone(), v0.expand(samples, 3).clone()
    for _ in range(steps):
        new_v = decay * v + acceleration / gamma * (1 - decay) + spread * torch.randn(samples, 3, dtype=F64,
                                                                                       generator=generator)
        x, v = x + 0.5 * h * (v + new_v), new_v
    return x


def test_transition_is_the_integrated_ornstein_uhlenbeck_distribution():
    """Mean and variance against 20,000 simulated paths: a wrong factor of 2 anywhere fails."""
    x0, v0, acc = (torch.tensor([[0.3, -1.0, 2.0]], dtype=F64), torch.tensor([[0.5, 0.2, -0.4]], dtype=F64),
                   torch.tensor([[-0.3, 0.1, 0.6]], dtype=F64))
    gamma, diffusion, dt = 0.8, 0.6, 1.5
    mean, var = langevin_transition(x0, v0, acc, torch.tensor([[gamma]], dtype=F64),
                                    torch.tensor([[diffusion]], dtype=F64), dt)
    x = _exact_ou_samples(x0, v0, acc, gamma, diffusion, dt, 20_000, 300, torch.Generator().manual_seed(0))
    standard_error = (var / x.shape[0]).sqrt()
    assert ((x.mean(0) - mean[0]).abs() < 4 * standard_error).all(), (x.mean(0), mean)
    assert ((x.var(0) / var[0] - 1).abs() < 0.04).all(), (x.var(0), var)


def test_transition_is_smooth_across_the_series_and_has_the_free_flight_limit():
    x0, v0, acc = torch.zeros(1, 3, dtype=F64), torch.ones(1, 3, dtype=F64), torch.full((1, 3), 2.0, dtype=F64)
    diffusion = torch.full((1, 1), 3.0, dtype=F64)
    below, above = (langevin_transition(x0, v0, acc, torch.tensor([[u]], dtype=F64), diffusion, 1.0)
                    for u in (SERIES_BELOW * (1 - 1e-9), SERIES_BELOW * (1 + 1e-9)))
    for a, b in zip(below, above):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=0)
    mean, var = langevin_transition(x0, v0, acc, None, diffusion, 2.0)  # x0 + v0 t + a t^2 / 2, b^2 t^3 / 3
    torch.testing.assert_close(mean, torch.full((1, 3), 6.0, dtype=F64))
    torch.testing.assert_close(var, torch.full((1, 1), 8.0, dtype=F64))


class _ConstantForce(nn.Module):
    """The same force on every atom (the one case where the transition is the dynamics' exact law)."""

    def __init__(self, force: tuple[float, float, float]) -> None:
        super().__init__()
        self.force = torch.tensor(force, dtype=F64)

    def encode_protein(self, data):
        return None

    def forward(self, data, x, protein=None):
        return self.force.expand_as(x)


def test_transition_matches_the_models_own_sampled_steps_under_a_constant_force():
    """BAOAB at a small step size, sampled, against the closed form, through NeuralMD.transition
    (masses, fluctuation-dissipation noise, time scale)."""
    model = NeuralMD(_ConstantForce((0.4, -0.2, 0.1)), solver="sde", method="baoab", step_size=0.02,
                     friction=0.7, noise="fdt", kT=0.5, time_scale=1.5).double()
    record = make_record(0, n_lig=3, n_res=6, T=4)
    x0, v0 = record["ligand"].pos[:, 1], record["ligand"].pos[:, 1] - record["ligand"].pos[:, 0]
    with torch.no_grad():
        mean, var = model.transition(record, x0, v0)
        paths = model.rollout(record, [1, 2], generator=torch.Generator().manual_seed(1), samples=4000)
    x = paths[:, -1]  # (samples, N, 3)
    standard_error = (var / x.shape[0]).sqrt()
    assert ((x.mean(0) - mean).abs() < 4 * standard_error).all()
    ratio = x.var(0) / var
    assert ((ratio - 1).abs() < 0.08).all(), ratio


def _langevin(**options) -> NeuralMD:
    torch.manual_seed(0)
    defaults = dict(solver="sde", method="baoab", friction=0.5, noise="fdt", kT=0.4, coefficients="ligand",
                    velocity_mapping=True, ligand_factory=toy_factory)
    return NeuralMD(ToyForceField(), **{**defaults, **options}).double()


def test_transition_mean_rotates_and_its_variance_and_loss_do_not():
    model = _langevin(history_prior=True)
    data = make_record(0, n_lig=5, n_res=8, T=6)  # one complex: the toy force field reads a residue batch
    rot, shift = random_rigid_motion(generator=torch.Generator().manual_seed(3), dtype=F64)
    moved = transform_record(data, rot, shift)
    x0, v0, start = data["ligand"].pos[:, 3], data["ligand"].pos[:, 3] - data["ligand"].pos[:, 2], torch.full((5,), 3)
    mean, var = model.transition(data, x0, v0, start=start)
    mean_moved, var_moved = model.transition(moved, x0 @ rot.T + shift, v0 @ rot.T, start=start)
    torch.testing.assert_close(mean_moved, mean @ rot.T + shift)
    torch.testing.assert_close(var_moved, var)
    losses = [model.loss(d, loss="transition", generator=torch.Generator().manual_seed(5)).item() for d in (data, moved)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-10)


def test_likelihood_training_lowers_the_loss_and_moves_friction_and_kT():
    model = _langevin()
    data = make_batch([make_record(i, n_lig=5, n_res=8, T=10) for i in range(4)])
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)

    def loss(seed: int) -> torch.Tensor:
        return model.loss(data, loss="transition", generator=torch.Generator().manual_seed(seed))

    with torch.no_grad():
        before, kT_before, bias_before = float(loss(99)), float(model.langevin.kT), float(model.langevin.friction_bias)
    for step in range(25):
        opt.zero_grad()
        loss(step).backward()
        opt.step()
    with torch.no_grad():
        assert float(loss(99)) < before - 0.1
        assert float(model.langevin.kT) != kT_before and float(model.langevin.friction_bias) != bias_before


@pytest.mark.parametrize("model, words", [
    (lambda: NeuralMD(ToyForceField(), solver="sde", ligand_factory=toy_factory), "noise='full' or 'fdt'"),
    (lambda: NeuralMD(ToyForceField(), solver="ode"), "noise='full' or 'fdt'"),
    (lambda: _langevin(velocity_refinement=0.1), "velocity_refinement=0"),
    (lambda: StaticBaseline(), "no Gaussian one-step transition"),
])
def test_models_without_a_gaussian_transition_say_so(model, words):
    data = make_batch([make_record(0, T=6)])
    built = model()
    assert not built.has_gaussian_transition and _langevin().has_gaussian_transition
    with pytest.raises(ValueError, match=words):
        built.loss(data, loss="transition", generator=torch.Generator().manual_seed(0))


def test_transition_is_batch_independent():
    """A complex's mean and variance are the same alone and inside a batch (BindingNet force,
    friction network, velocity map, anisotropic history well), float64."""
    from neuralmd.layers import BindingNet
    from neuralmd.testing import assert_batch_independent

    torch.manual_seed(0)
    model = NeuralMD(BindingNet(hidden=16, num_layers=1), solver="sde", method="baoab", friction=0.5, noise="fdt",
                     kT=0.4, coefficients="ligand", velocity_mapping=True, history_prior=True,
                     prior_shape="anisotropic").double()
    records = [make_record(i, n_lig=4 + i, n_res=8, T=6) for i in range(3)]

    def mean_and_variance(data):
        pos = data["ligand"].pos
        start = torch.full((pos.shape[0],), 3)
        mean, var = model.transition(data, pos[:, 3], pos[:, 3] - pos[:, 2], start=start)
        return torch.cat((mean, var), dim=-1)

    assert_batch_independent(mean_and_variance, records, atol=1e-10)

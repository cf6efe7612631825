"""dynamics/_neuralmd.py: what each mode builds and exposes (integration: test_dynamics_integrators)."""
from __future__ import annotations

import pytest
import torch
from _dynamics_toys import ToyForceField, make_record, toy_factory
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import NeuralMD


def _model(**kw):
    return NeuralMD(ToyForceField().double(), ligand_factory=toy_factory, **kw).double()


def test_the_papers_ode_has_no_extra_modules():
    model = _model()
    assert not model.stochastic and model.diffusion is None and model.langevin is None
    assert model.noise_scale is None and model.coefficients(make_record(0), None) == (None, None)


def test_the_papers_sde_learns_a_positive_rank1_noise_scale():
    model = _model(solver="sde", noise_scale=0.3)
    assert model.stochastic and model.noise_channels == 1 and model.diffusion is not None
    assert float(model.noise_scale.detach()) == pytest.approx(0.3)
    data = make_record(0)
    assert model.velocity_noise(data, data["ligand"].pos[:, 0]).shape == (6, 3, 1)


def test_langevin_modes_have_full_rank_noise_and_per_atom_coefficients():
    model = _model(solver="sde", method="baoab", friction=0.5, noise="fdt", kT=2.0, coefficients="ligand")
    data = make_record(0)
    gamma, sigma = model.coefficients(data, data["ligand"].pos[:, 0])
    assert gamma.shape == sigma.shape == (6, 1)
    torch.testing.assert_close(gamma, torch.full_like(gamma, 0.5))            # the head starts at the constant
    torch.testing.assert_close(sigma, (2 * gamma * 2.0).sqrt())
    assert model.noise_channels == 3
    assert model.velocity_noise(data, data["ligand"].pos[:, 0]).shape == (6, 3, 3)


@pytest.mark.parametrize("options, match", [(dict(noise="full"), "needs solver='sde'"),
                                            (dict(solver="sde", noise="fdt"), "set friction > 0"),
                                            (dict(friction=-1.0), "non-negative"),
                                            (dict(step_size=0.0), "step_size must be positive")])
def test_inconsistent_options_are_refused(options, match):
    with pytest.raises(ValueError, match=match):
        _model(**options)


def test_time_scale_integrates_the_same_dynamics_over_s_times_the_time():
    # s = 2 from v0 over times t is, exactly, s = 1 from v0 / 2 over times 2 t: the same learned
    # function run twice as fast (Euler, step 0.5 in the dynamics' own units either way).
    from neuralmd.layers import BindingNet
    from neuralmd.data import synthetic_trajectories

    data = synthetic_trajectories(1, seed=3, n_snapshots=6)[0]
    torch.manual_seed(0)
    force_field = BindingNet(hidden=8, num_layers=1)
    plain = NeuralMD(force_field, method="euler", step_size=0.5)
    faster = NeuralMD(force_field, method="euler", step_size=0.5, time_scale=2.0)
    x0, v0 = data["ligand"].pos[:, 1], data["ligand"].pos[:, 1] - data["ligand"].pos[:, 0]
    times = torch.arange(4, dtype=x0.dtype)
    with torch.no_grad():
        torch.testing.assert_close(faster.predict(data, x0, v0, times), plain.predict(data, x0, v0 / 2, 2 * times),
                                   rtol=0, atol=0)
    for bad in (0.0, -1.0, True, "2"):
        with pytest.raises(ValueError, match="time_scale must be a positive number"):
            NeuralMD(force_field, time_scale=bad)

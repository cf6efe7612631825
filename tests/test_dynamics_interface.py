"""The shared dynamics interface: shapes, times, initial velocity, loss windows, baselines, caching."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from _dynamics_toys import ToyForceField, make_batch, make_record, toy_factory
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import (GNNMD, DenoisingLD, LinearBaseline, NeuralMD, SecondOrderDynamics,
                               StaticBaseline, VerletMD)
from neuralmd.dynamics._base import initial_state, trajectory_loss
from neuralmd.dynamics._windows import sample_windows


def all_models(ff):
    return {
        "static": StaticBaseline(),
        "linear": LinearBaseline(),
        "ode": NeuralMD(ff, ligand_factory=toy_factory),
        "sde": NeuralMD(ff, solver="sde", ligand_factory=toy_factory),
        "gnnmd": GNNMD(ff),
        "verlet": VerletMD(ff),
        "denoising": DenoisingLD(ff, steps=3, ligand_factory=toy_factory),
    }


@pytest.mark.parametrize("name", ["static", "linear", "ode", "sde", "gnnmd", "verlet", "denoising"])
def test_rollout_shape_and_known_start(name):
    data = make_batch([make_record(0), make_record(1, n_lig=4)])
    model = all_models(ToyForceField().double())[name].double()
    out = model.rollout(data, [2, 3, 5])
    assert out.shape == (3, 10, 3)
    assert torch.equal(out[0], data["ligand"].pos[:, 2])
    assert torch.isfinite(out).all()


def test_initial_velocity_is_backward_difference_and_zero_at_start():
    pos = torch.randn(4, 5, 3, dtype=torch.float64)
    x0, v0 = initial_state(pos, torch.tensor([0, 1, 3, 4]))
    assert torch.equal(v0[0], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(v0[1], pos[1, 1] - pos[1, 0])
    assert torch.equal(v0[3], pos[3, 4] - pos[3, 3])
    assert torch.equal(x0[2], pos[2, 3])


@pytest.mark.parametrize("times", [[3, 2], [], [0.5, 1], [-1, 0], [8, 9]])
def test_bad_times_raise(times):
    with pytest.raises(ValueError):
        LinearBaseline().rollout(make_record(0), times)


def test_autoregressive_models_need_integer_times():
    ff = ToyForceField().double()
    with pytest.raises(ValueError, match="integers"):
        GNNMD(ff).rollout(make_record(0), [1, 1.5])
    out = NeuralMD(ff, ligand_factory=toy_factory).double().rollout(make_record(0), [1, 1.5, 2])
    assert out.shape[0] == 3


def test_bad_records_raise_value_error_naming_complex():
    data = make_record(0, name="1abc")
    data["ligand"].pos[0, 1, 0] = float("nan")
    with pytest.raises(ValueError, match="1abc.*NaN"):
        StaticBaseline().rollout(data, [0, 1])
    data = make_record(0, name="2xyz")
    data["ligand"].mass = -data["ligand"].mass
    with pytest.raises(ValueError, match="2xyz.*mass"):
        LinearBaseline().loss(data)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(0, 5))
def test_static_and_linear_exact_on_what_they_represent(seed, n_lig, start):
    static = make_record(seed, n_lig=n_lig, motion="static")
    linear = make_record(seed, n_lig=n_lig, motion="linear")
    times = list(range(start, 8))
    assert torch.equal(StaticBaseline().rollout(static, times), static["ligand"].pos[:, start:].transpose(0, 1))
    pred = LinearBaseline().rollout(linear, times)
    if start > 0:
        torch.testing.assert_close(pred, linear["ligand"].pos[:, start:].transpose(0, 1), rtol=0, atol=1e-12)
    else:  # no earlier snapshot: zero velocity, the static prediction
        assert torch.equal(pred, StaticBaseline().rollout(linear, times))
    assert LinearBaseline().loss(make_batch([linear, make_record(seed + 1, motion="linear")])) < 1e-12


def test_linear_is_not_exact_on_curved_motion():
    data = make_record(0, motion="wobble")
    assert LinearBaseline().loss(data) > 1e-3


def test_loss_windows_follow_generator_and_targets_match():
    data = make_batch([make_record(i) for i in range(4)])
    a = sample_windows(data, 3, torch.Generator().manual_seed(5))
    b = sample_windows(data, 3, torch.Generator().manual_seed(5))
    assert all(torch.equal(u, v) for u, v in zip(a[:3], b[:3]))
    x0, v0, targets, w, start = a
    assert w == 3 and targets.shape == (4, data["ligand"].pos.shape[0], 3)
    assert torch.equal(targets[0], x0)
    # every target row is a real snapshot of that atom, consecutive in time, starting at t >= 1
    pos = data["ligand"].pos
    for i in range(pos.shape[0]):
        s = int((pos[i] == targets[0, i]).all(-1).nonzero()[0])
        assert s >= 1 and torch.equal(targets[:, i], pos[i, s:s + 4])
        assert torch.equal(v0[i], pos[i, s] - pos[i, s - 1])
    # too-long windows shrink to the trajectory
    assert sample_windows(data, 100)[3] == pos.shape[1] - 2


def test_trajectory_loss_kinds():
    pred, target = torch.zeros(2, 3, 3), torch.full((2, 3, 3), 2.0)
    assert trajectory_loss(pred, target, "mae") == 2.0
    assert trajectory_loss(pred, target, "mse") == 4.0
    with pytest.raises(ValueError):
        trajectory_loss(pred, target, "huber")


@pytest.mark.parametrize("name", ["ode", "sde", "gnnmd", "verlet", "denoising"])
def test_protein_encoded_once_per_rollout_and_loss(name):
    ff = ToyForceField().double()
    model = all_models(ff)[name].double()
    data = make_batch([make_record(0), make_record(1)])
    model.rollout(data, [1, 2, 3, 4])
    assert ff.encode_calls == 1
    model.loss(data, window=3)
    assert ff.encode_calls == 2


@pytest.mark.parametrize("name", ["ode", "sde", "gnnmd", "verlet", "denoising"])
def test_cache_off_is_decided_by_the_base_and_changes_only_the_cost(name):
    ff = ToyForceField().double()
    model = all_models(ff)[name].double()
    data = make_batch([make_record(0), make_record(1)])
    cached = model.rollout(data, [1, 2, 3], generator=torch.Generator().manual_seed(3))
    model.cache_protein = False
    ff.encode_calls = 0
    uncached = model.rollout(data, [1, 2, 3], generator=torch.Generator().manual_seed(3))
    assert ff.encode_calls > 1           # the force field encodes at every evaluation
    torch.testing.assert_close(cached, uncached, rtol=0, atol=1e-12)


def test_uncached_protein_is_encoded_per_evaluation_with_same_result():
    ff = ToyForceField().double()
    data = make_record(0)
    cached = NeuralMD(ff, method="euler", step_size=0.5, ligand_factory=toy_factory).double()
    uncached = NeuralMD(ff, method="euler", step_size=0.5, ligand_factory=toy_factory).double()
    uncached.cache_protein = False
    a = cached.rollout(data, [1, 2, 3])
    ff.encode_calls = 0
    b = uncached.rollout(data, [1, 2, 3])
    assert ff.encode_calls == 3  # one per Euler step that needs a force (the last moves x only)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_second_order_dynamics_is_eq14():
    ff = ToyForceField().double()
    data = make_record(0)
    x, v = data["ligand"].pos[:, 1], torch.randn(6, 3, dtype=torch.float64)
    mass = data["ligand"].mass
    f = SecondOrderDynamics(ff, data, ff.encode_protein(data), mass)
    dx, dv = f(0.0, (x, v))
    assert torch.equal(dx, v)
    torch.testing.assert_close(dv, ff(data, x, protein=ff.encode_protein(data)) / mass[:, None])
    refiner = toy_factory()
    g = SecondOrderDynamics(ff, data, ff.encode_protein(data), mass, velocity_refinement=0.01, refiner=refiner)
    dx2, _ = g(0.0, (x, v))
    torch.testing.assert_close(dx2, v + 0.01 * refiner(data["ligand"].z, x)[1])
    with pytest.raises(ValueError):
        SecondOrderDynamics(ff, data, None, mass, velocity_refinement=0.01)


def test_constructor_validation():
    ff = ToyForceField()
    with pytest.raises(ValueError):
        NeuralMD(ff, solver="pde")
    with pytest.raises(ValueError):
        NeuralMD(ff, solver="sde", method="rk4", ligand_factory=toy_factory)
    with pytest.raises(ValueError):
        NeuralMD(ff, solver="sde", adjoint=True, ligand_factory=toy_factory)
    with pytest.raises(ValueError):
        VerletMD(ff, step_size=0.3)


@pytest.mark.parametrize("method", ["euler", "midpoint", "rk4", "dopri5"])
def test_ode_methods_agree_on_smooth_dynamics(method):
    ff = ToyForceField().double()
    data = make_record(0)
    ref = NeuralMD(ff, method="rk4", step_size=0.125, ligand_factory=toy_factory).double().rollout(data, [1, 3])
    tolerances = {"rtol": 1e-8, "atol": 1e-8} if method == "dopri5" else {}    # dopri5's options only
    out = NeuralMD(ff, method=method, step_size=0.25, ligand_factory=toy_factory,
                   **tolerances).double().rollout(data, [1, 3])
    tol = {"euler": 5e-2, "midpoint": 5e-3}.get(method, 1e-5)
    torch.testing.assert_close(out, ref, rtol=0, atol=tol)


def test_adjoint_gradients_match_direct_backprop():
    ff = ToyForceField().double()
    data = make_record(0)
    grads = []
    for adjoint in (False, True):
        model = NeuralMD(ff, method="rk4", step_size=0.5, adjoint=adjoint, ligand_factory=toy_factory).double()
        ff.zero_grad()
        model.loss(data, window=3, generator=torch.Generator().manual_seed(0)).backward()
        grads.append(torch.stack([p.grad for p in ff.parameters()]))
    # The adjoint re-integrates the state backwards, so it agrees up to discretisation error.
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-2, atol=1e-9)
    assert grads[1].abs().sum() > 0

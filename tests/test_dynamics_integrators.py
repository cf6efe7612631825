"""dynamics/_integrators.py: solver choice as data (one registry, options with their integrator)."""
from __future__ import annotations

import pytest
import torch
import torchsde
from _dynamics_toys import ToyForceField, make_record, toy_factory
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import NeuralMD
from neuralmd.dynamics import _integrators
from neuralmd.dynamics._integrators import DEFAULT_METHODS, INTEGRATORS, Integrator, integrator, solver_options


def test_every_method_of_the_registry_builds_and_rolls_out():
    data = make_record(0)
    for solver, methods in INTEGRATORS.items():
        for method in methods:
            model = NeuralMD(ToyForceField().double(), solver=solver, method=method, ligand_factory=toy_factory)
            out = model.double().rollout(data, [1, 2, 3], generator=torch.Generator().manual_seed(0))
            assert out.shape == (3, 6, 3) and torch.isfinite(out).all(), (solver, method)


def test_defaults_are_defined_once():
    for solver, method in DEFAULT_METHODS.items():
        assert NeuralMD(ToyForceField(), solver=solver, ligand_factory=toy_factory).method == method
    assert integrator("ode", None)[0] == "rk4"


def test_options_live_with_their_integrator():
    assert solver_options("ode", "dopri5", {"rtol": None, "atol": 1e-6}) == {"rtol": 0.0, "atol": 1e-6}
    assert solver_options("ode", "rk4", {"rtol": None, "atol": None}) == {}
    with pytest.raises(ValueError, match="atol applies to ode/dopri5 only, not to ode/rk4"):
        NeuralMD(ToyForceField(), method="rk4", atol=1e-6)
    with pytest.raises(ValueError, match="adjoint=True is supported for solver='ode' only"):
        NeuralMD(ToyForceField(), solver="sde", adjoint=True, ligand_factory=toy_factory)
    with pytest.raises(ValueError, match="method 'srk' needs the rank-1 noise"):
        NeuralMD(ToyForceField(), solver="sde", method="srk", noise="full", ligand_factory=toy_factory)
    with pytest.raises(ValueError, match="method 'rk4' is not valid for solver 'sde'"):
        integrator("sde", "rk4")
    with pytest.raises(ValueError, match="solver must be one of"):
        integrator("pde", None)


def test_a_new_integrator_is_one_entry(monkeypatch):
    # A "frozen" integrator that keeps the start pose: adding it needs no change to NeuralMD.
    def frozen(model, func, data, x0, v0, times, generator):
        return x0.unsqueeze(0).expand(times.shape[0], -1, -1)

    monkeypatch.setitem(INTEGRATORS["ode"], "frozen", Integrator(frozen, options={"patience": 1.0}))
    model = NeuralMD(ToyForceField().double(), method="frozen", ligand_factory=toy_factory)
    data = make_record(0)
    out = model.double().rollout(data, [1, 2, 3])
    assert torch.equal(out[2], data["ligand"].pos[:, 1])
    assert model.solver_options == {"patience": 1.0}
    assert "frozen" not in _integrators.DEFAULT_METHODS.values()


def _against_reference(monkeypatch, model, solver, method, reference):
    """Force evaluations of a rollout with gradients by the model's integrator and by ``reference``
    in its place; asserts the same positions bit for bit and the same parameter gradients (the
    backward sums the same terms in another order without a flattened state: round-off only)."""
    data = make_record(0)
    calls = []
    forces = model.learned_force
    monkeypatch.setattr(model, "learned_force", lambda *a, **k: calls.append(1) or forces(*a, **k))

    def run():
        calls.clear()
        model.zero_grad()
        pred = model.rollout(data, [1, 2, 3, 4], generator=torch.Generator().manual_seed(5))
        (pred ** 2).sum().backward()
        return pred.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None], len(calls)

    fast, fast_grads, fast_calls = run()
    monkeypatch.setitem(INTEGRATORS[solver], method, reference)
    slow, slow_grads, slow_calls = run()
    assert torch.equal(fast, slow)
    assert fast_grads and all(torch.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(fast_grads, slow_grads))
    return fast_calls, slow_calls


def _torchdiffeq_fixed_grid(model, func, data, x0, v0, times, generator):
    return _integrators._odeint(model, func, x0, v0, times, options={"step_size": model.step_size})


#: force evaluations per step of each fixed-grid method
EVALUATIONS_PER_STEP = {"euler": 1, "midpoint": 2, "rk4": 4}


@pytest.mark.parametrize("method", sorted(EVALUATIONS_PER_STEP))
@pytest.mark.parametrize("options", [{}, {"friction": 0.3}, {"velocity_refinement": 0.01}])
@pytest.mark.parametrize("step_size", [0.5, 0.25, 1.0])
def test_fixed_grid_matches_torchdiffeq_with_one_force_evaluation_fewer(monkeypatch, method, options, step_size):
    # the last step's last acceleration only moves the final velocity, which no caller reads
    torch.manual_seed(0)
    model = NeuralMD(ToyForceField().double(), method=method, step_size=step_size, ligand_factory=toy_factory,
                     **options).double()
    fast, slow = _against_reference(monkeypatch, model, "ode", method,
                                    Integrator(_torchdiffeq_fixed_grid, adjoint=True))
    assert fast == slow - 1 == round(3 / step_size) * EVALUATIONS_PER_STEP[method] - 1


def test_euler_between_grid_points_is_torchdiffeqs_interpolation():
    # step 0.3 puts snapshot 1 between grid points: torchdiffeq's linear interpolation is kept
    model = NeuralMD(ToyForceField().double(), method="euler", step_size=0.3, ligand_factory=toy_factory).double()
    data = make_record(0)
    grid = _integrators._step_grid(torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64), 0.3)
    assert grid.tolist()[-1] == 2.0 and 1.0 not in grid.tolist()
    out = model.rollout(data, [1, 2, 3])
    func = model.dynamics(data)
    x0 = data["ligand"].pos[:, 1]
    v0 = x0 - data["ligand"].pos[:, 0]
    v0, func = model._start_state(data, x0, v0, torch.ones(x0.shape[0], dtype=torch.long))
    times = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    assert torch.equal(out, _torchdiffeq_fixed_grid(model, func, data, x0, v0, times, None))


def _torchsde_solver(model, func, data, x0, v0, times, generator):
    """torchsde's sdeint itself, as _integrators called it before its Euler-Maruyama loop."""
    from neuralmd._format import ligand_batch
    from neuralmd.dynamics._noise import ComplexBrownian, call_seeds

    batch, num = ligand_batch(data)
    counts = torch.bincount(batch, minlength=num).tolist()
    bm = ComplexBrownian(float(times[0]), float(times[-1]), call_seeds(data, generator), counts, dtype=x0.dtype,
                         device=x0.device, channels=model.noise_channels)
    sde = _integrators._LangevinSDE(func, lambda x: model.velocity_noise(data, x), model.noise_channels)
    ys = torchsde.sdeint(sde, torch.cat((x0, v0), dim=-1), times, bm=bm, method="euler", dt=model.step_size)
    return ys[..., :3]


@pytest.mark.parametrize("options", [{}, {"friction": 0.4, "noise": "full"}, {"friction": 0.4, "noise": "fdt"}])
@pytest.mark.parametrize("step_size", [0.5, 1.0])
def test_euler_maruyama_matches_torchsde_with_two_force_evaluations_fewer(monkeypatch, options, step_size):
    # torchsde evaluates drift and diffusion once more only to check shapes, and its last step's
    # force and noise move only the final velocity
    torch.manual_seed(0)
    model = NeuralMD(ToyForceField().double(), solver="sde", method="euler", step_size=step_size,
                     ligand_factory=toy_factory, **options).double()
    fast, slow = _against_reference(monkeypatch, model, "sde", "euler", Integrator(_torchsde_solver))
    assert fast == slow - 2 == round(3 / step_size) - 1


def test_euler_maruyama_off_the_step_grid_is_torchsdes(monkeypatch):
    # step 0.3 puts the snapshots between steps: torchsde integrates and interpolates, as before
    torch.manual_seed(0)
    model = NeuralMD(ToyForceField().double(), solver="sde", method="euler", step_size=0.3,
                     ligand_factory=toy_factory).double()
    fast, slow = _against_reference(monkeypatch, model, "sde", "euler", Integrator(_torchsde_solver))
    assert fast == slow

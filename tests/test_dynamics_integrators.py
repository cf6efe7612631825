"""dynamics/_integrators.py: solver choice as data (one registry, options with their integrator)."""
from __future__ import annotations

import pytest
import torch
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

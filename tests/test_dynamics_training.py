"""A few optimiser steps on tiny synthetic trajectories lower every learnable model's loss."""
from __future__ import annotations

import pytest
import torch
from _dynamics_toys import make_batch, make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import GNNMD, DenoisingLD, NeuralMD, VerletMD
from neuralmd.layers import BindingNet

MODELS = {
    "ode": lambda ff: NeuralMD(ff, method="rk4", step_size=0.5),
    "ode-mapped-refined": lambda ff: NeuralMD(ff, method="euler", step_size=0.5, velocity_mapping=True,
                                              velocity_refinement=0.01),
    "sde": lambda ff: NeuralMD(ff, solver="sde", method="euler", step_size=0.5),
    "gnnmd": lambda ff: GNNMD(ff),
    "verlet": lambda ff: VerletMD(ff, step_size=0.5),
    "denoising": lambda ff: DenoisingLD(ff, steps=4),
}


def evaluate(model, data, kind) -> float:
    # Fixed windows and noise: the before/after numbers differ only through the parameters.
    return float(model.loss(data, window=3, loss=kind, generator=torch.Generator().manual_seed(123)).detach())


@pytest.mark.parametrize("name", list(MODELS))
def test_few_steps_lower_the_loss(name):
    torch.manual_seed(0)
    ff = BindingNet(hidden=16, num_layers=2)
    model = MODELS[name](ff).double()
    data = make_batch([make_record(i, n_lig=5, n_res=10, T=8) for i in range(4)])
    kind = "mse" if name == "verlet" else "mae"
    before = evaluate(model, data, kind)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    train_gen = torch.Generator().manual_seed(0)
    for _ in range(8):
        opt.zero_grad()
        loss = model.loss(data, window=3, loss=kind, generator=train_gen)
        assert torch.isfinite(loss)
        loss.backward()
        opt.step()
    after = evaluate(model, data, kind)
    assert after < 0.95 * before, (before, after)

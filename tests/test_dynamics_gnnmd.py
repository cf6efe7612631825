"""dynamics/_gnnmd.py: autoregressive displacements, one snapshot at a time."""
from __future__ import annotations

import pytest
import torch
from _dynamics_toys import make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import GNNMD


class ConstantStep(torch.nn.Module):
    """Displaces every atom by a fixed vector per call."""

    def __init__(self):
        super().__init__()
        self.step = torch.nn.Parameter(torch.tensor([0.1, 0.0, -0.2], dtype=torch.float64))

    def encode_protein(self, data):
        return None

    def forward(self, data, x, protein=None):
        return self.step.expand_as(x)


def test_each_snapshot_adds_one_displacement():
    data = make_record(0)
    model = GNNMD(ConstantStep())
    out = model.rollout(data, [1, 2, 4])
    torch.testing.assert_close(out[2] - out[0], 3 * model.force_field.step.expand(6, 3).detach(),
                               rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="integers"):
        model.rollout(data, [1, 1.5])


def test_the_loss_trains_the_displacement():
    model = GNNMD(ConstantStep())
    model.loss(make_record(0, motion="static"), window=2, generator=torch.Generator().manual_seed(0)).backward()
    assert model.force_field.step.grad.abs().sum() > 0

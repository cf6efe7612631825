"""Equilibrium score matching (``dynamics._score``): what it learns, its keyed draws, its errors."""
from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from _dynamics_toys import ToyForceField, make_batch, make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)
from test_dynamics_langevin import point_record

from neuralmd.dynamics import GNNMD, NeuralMD
from neuralmd.dynamics._score import denoising_score_loss, perturbed_snapshots

F64 = torch.float64


class LearnedSpring(nn.Module):
    """``F = -k (x - c)`` with a learned stiffness k and centre c: the family that holds the
    smoothed score of Gaussian positions exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.log_k = nn.Parameter(torch.zeros((), dtype=F64))
        self.centre = nn.Parameter(torch.zeros(3, dtype=F64))

    def encode_protein(self, data) -> None:
        return None

    def forward(self, data, x: Tensor, protein=None) -> Tensor:
        return -self.log_k.exp() * (x - self.centre)


def test_score_matching_learns_the_smoothed_score_of_gaussian_snapshots():
    # Snapshots scattered around (1, -2, 0.5) with variance v per coordinate: denoising score
    # matching at noise sigma is minimised by F / kT = -(x - centre) / (v + sigma^2), so with
    # kT = 2 the stiffness must reach kT / (v + sigma^2) and the centre the snapshots' mean.
    variance, sigma, kT = 0.09, 0.2, 2.0
    g = torch.Generator().manual_seed(0)
    centre = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    pos = centre + math.sqrt(variance) * torch.randn(4, 400, 3, generator=g, dtype=F64)
    data = Batch.from_data_list([point_record(pos[i:i + 1], torch.full((1,), 12.0, dtype=F64), f"g{i}")
                                 for i in range(4)])
    model = NeuralMD(LearnedSpring(), solver="sde", method="baoab", friction=1.0, noise="fdt", kT=kT,
                     score_noise=sigma, score_snapshots=16).double()
    optimiser = torch.optim.Adam(model.force_field.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, [100], gamma=0.1)   # settle Adam's scatter
    for step in range(200):
        optimiser.zero_grad()
        model.loss(data, loss="score", generator=torch.Generator().manual_seed(step)).backward()
        optimiser.step()
        schedule.step()
    expected = kT / (variance + sigma ** 2)
    assert abs(float(model.force_field.log_k.detach().exp()) / expected - 1) < 0.1
    assert torch.allclose(model.force_field.centre.detach(), pos.mean((0, 1)), atol=0.08)
    # kT is detached: the equilibrium term never moves it (the dynamics' losses set it).
    assert model.langevin.log_kT.grad is None or float(model.langevin.log_kT.grad.abs()) == 0.0


def test_zero_force_scores_one_and_the_smoothed_score_scores_less():
    g = torch.Generator().manual_seed(1)
    x, eps = torch.randn(50, 6, 3, generator=g, dtype=F64) * 0.3, torch.randn(50, 6, 3, generator=g, dtype=F64)
    zero = denoising_score_loss(lambda y: torch.zeros_like(y), x, eps, noise=0.2)
    assert torch.equal(zero, eps.square().mean())
    smoothed = denoising_score_loss(lambda y: -y / (0.09 + 0.04), x, eps, noise=0.2)
    # the minimum for Gaussian positions of variance v: v / (v + sigma^2) = 0.69 of the zero force's
    assert abs(float(smoothed) / float(zero) - 0.09 / 0.13) < 0.05


def test_perturbed_snapshots_of_a_complex_do_not_depend_on_its_batch():
    a, b = make_record(0, name="a"), make_record(1, n_lig=4, name="b")
    alone = perturbed_snapshots(a, snapshots=5, noise=0.3, generator=torch.Generator().manual_seed(7))
    both = perturbed_snapshots(make_batch([b, a]), snapshots=5, noise=0.3, generator=torch.Generator().manual_seed(7))
    n_b = b["ligand"].z.shape[0]
    assert torch.equal(alone[0], both[0][:, n_b:]) and torch.equal(alone[1], both[1][:, n_b:])
    assert torch.equal(alone[2][:, 0], both[2][:, 1])
    # the draws are snapshots of the trajectory, each complex its own
    assert torch.equal(alone[0][0], a["ligand"].pos[:, int(alone[2][0, 0])])


def test_score_weight_adds_the_equilibrium_term_to_the_dynamics_loss():
    data = make_batch([make_record(0), make_record(1)])
    kwargs = dict(solver="sde", method="baoab", friction=0.5, noise="fdt", kT=1.0)
    plain = NeuralMD(ToyForceField(), **kwargs).double()
    weighted = NeuralMD(ToyForceField(), **kwargs, score_weight=0.5).double()
    weighted.load_state_dict(plain.state_dict())
    loss = weighted.loss(data, window=3, loss="energy", samples=2, generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(3)
    dynamics = plain.loss(data, window=3, loss="energy", samples=2, generator=gen)
    equilibrium = plain.score_matching_loss(data, gen)
    assert torch.allclose(loss, dynamics + 0.5 * equilibrium)


@pytest.mark.parametrize("build, match", [
    (lambda: NeuralMD(ToyForceField(), "sde", "baoab", friction=0.5, noise="full", score_weight=1.0),
     "score_weight > 0 needs noise='fdt'"),
    (lambda: NeuralMD(ToyForceField(), "sde", "baoab", friction=0.5, noise="fdt", score_noise=0.0),
     "score_noise must be a positive"),
    (lambda: NeuralMD(ToyForceField(), "sde", "baoab", friction=0.5, noise="fdt", score_snapshots=0),
     "score_snapshots must be a positive integer"),
])
def test_bad_score_options_give_one_clear_error(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("model", [lambda: GNNMD(ToyForceField()), lambda: NeuralMD(ToyForceField())])
def test_models_without_an_equilibrium_refuse_the_score_loss(model):
    built = model().double()
    assert not built.learns_equilibrium
    with pytest.raises(ValueError, match="learns no equilibrium score"):
        built.loss(make_record(0), loss="score")
    assert NeuralMD(ToyForceField(), "sde", "baoab", friction=0.5, noise="fdt").learns_equilibrium

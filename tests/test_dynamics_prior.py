"""NeuralMD(history_prior=True): the harmonic well of the snapshots seen before the start."""
from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)
from test_dynamics_langevin import point_record

from neuralmd.dynamics import NeuralMD
from neuralmd.dynamics._baselines import observed_covariance, observed_mean_and_spread
from neuralmd.dynamics._langevin import history_well, loosen_centroid

F64 = torch.float64


class NoForce(nn.Module):
    """A learned force that is always zero: the well alone drives the dynamics."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros((), dtype=F64))

    def encode_protein(self, data) -> None:
        return None

    def forward(self, data, x: Tensor, protein=None) -> Tensor:
        return torch.zeros_like(x)


def history(n: int, seen: int, future: int, mean: Tensor, variance: float | Tensor, seed: int) -> Tensor:
    """(n, seen + future, 3): ``seen`` snapshots around ``mean`` (n, 3) with ``variance`` per
    coordinate (or (3,) per axis), then ``future`` far away."""
    g = torch.Generator().manual_seed(seed)
    scale = torch.as_tensor(variance, dtype=F64).sqrt()
    past = mean.unsqueeze(1) + scale * torch.randn(n, seen, 3, generator=g, dtype=F64)
    return torch.cat((past, torch.full((n, future, 3), 50.0, dtype=F64)), dim=1)


def prior_model(**options) -> NeuralMD:
    return NeuralMD(NoForce(), solver="sde", method="baoab", step_size=0.25, friction=0.5, noise="fdt",
                    history_prior=True, **options).double()


def test_history_well_pulls_each_atom_to_its_observed_mean_with_stiffness_kT_over_variance():
    pos = history(4, 6, 2, torch.randn(4, 3, dtype=F64), 0.3, seed=1)
    start = torch.full((4,), 5)
    mean, var = observed_mean_and_spread(pos, start)
    force = history_well(pos, start, torch.tensor(2.0, dtype=F64), floor=0.01)
    torch.testing.assert_close(force(mean), torch.zeros(4, 3, dtype=F64))
    x = mean + torch.tensor([0.1, -0.2, 0.3], dtype=F64)
    torch.testing.assert_close(force(x), -2.0 * (x - mean) / (var + 0.01).unsqueeze(-1))


@pytest.mark.parametrize("shape", ["isotropic", "anisotropic"])
def test_langevin_in_the_well_samples_the_observed_gaussian(shape):
    # With no learned force the model's long-run positions are N(mean_i, (s_i^2 + floor) I) per
    # atom (isotropic) or N(mean_i, C_i + floor I) (anisotropic) whatever kT: a missing kT in the
    # well (or a factor 2) changes the spread by that factor, an isotropic well on anisotropic
    # snapshots flattens the per-axis spreads.
    n, seen, floor, kT = 120, 40, 0.05, 3.0
    variance = torch.tensor([0.45, 0.2, 0.06], dtype=F64)
    centre = torch.randn(n, 3, dtype=F64, generator=torch.Generator().manual_seed(0))
    data = point_record(history(n, seen, 3, centre, variance, seed=2), torch.full((n,), 12.0, dtype=F64), "well")
    model = prior_model(kT=kT, prior_floor=floor, prior_shape=shape)
    start = torch.full((n,), seen - 1)
    mean, cov = observed_covariance(data["ligand"].pos, start)
    _, var = observed_mean_and_spread(data["ligand"].pos, start)
    torch.testing.assert_close(cov.diagonal(dim1=1, dim2=2).mean(-1), var)
    with torch.no_grad():
        xs = model.rollout(data, torch.arange(seen - 1, seen + 160, dtype=F64),
                           generator=torch.Generator().manual_seed(0))
    late = xs[80:]                                   # after 40 / gamma of burn-in
    per_axis = (late - mean).pow(2).mean(0)          # (n, 3): per atom and axis
    if shape == "isotropic":
        expected = (var + floor).unsqueeze(-1).expand(-1, 3)
    else:
        expected = cov.diagonal(dim1=1, dim2=2) + floor
    ratio = (per_axis / expected).mean(0)            # per axis, over atoms
    torch.testing.assert_close(ratio, torch.ones(3, dtype=F64), rtol=0.1, atol=0)
    assert float((late.mean(0) - mean).norm(dim=-1).mean()) < 0.15


def test_history_prior_reads_the_snapshots_up_to_the_start_and_none_after():
    n, seen = 5, 8
    pos = history(n, seen, 4, torch.zeros(n, 3, dtype=F64), 0.3, seed=3)
    model = prior_model()

    def rollout(p: Tensor) -> Tensor:
        with torch.no_grad():
            return model.rollout(point_record(p, torch.full((n,), 12.0, dtype=F64), "a"), [seen - 1, seen, seen + 2],
                                 generator=torch.Generator().manual_seed(4))

    reference = rollout(pos)
    future = pos.clone()
    future[:, seen:] = -7.0
    torch.testing.assert_close(rollout(future), reference, rtol=0, atol=0)
    past = pos.clone()
    past[:, 2] += 1.0
    assert not torch.allclose(rollout(past), reference)


def test_score_term_with_the_prior_at_floor_sigma_squared_is_the_exact_smoothed_score():
    # Gaussian snapshots of variance v: with the learned force zero and prior_floor = sigma^2 the
    # well IS the smoothed score -(x - mean) / (v + sigma^2), whose denoising loss is v / (v + sigma^2).
    n, seen, variance, sigma = 200, 400, 0.09, 0.2
    data = point_record(history(n, seen, 0, torch.zeros(n, 3, dtype=F64), variance, seed=5),
                        torch.full((n,), 12.0, dtype=F64), "gauss")
    model = prior_model(kT=2.0, prior_floor=sigma ** 2, score_noise=sigma, score_snapshots=16)
    loss = model.loss(data, loss="score", generator=torch.Generator().manual_seed(6))
    assert float(loss) == pytest.approx(variance / (variance + sigma ** 2), rel=0.05)


def test_gated_learned_force_starts_at_zero_and_learns_its_gate():
    # The gate starts at 0: the rollout is the well's own, bit for bit, whatever the force field
    # says; the energy score then reaches the gate through the rollout.
    n, seen = 6, 10
    pos = history(n, seen, 5, torch.zeros(n, 3, dtype=F64), 0.3, seed=8)
    data = point_record(pos, torch.full((n,), 12.0, dtype=F64), "g")

    class Push(NoForce):
        def forward(self, data, x, protein=None):
            return torch.ones_like(x) + 0.0 * self.unused

    def model(force_field):
        return NeuralMD(force_field, solver="sde", method="baoab", step_size=0.5, friction=0.5, noise="fdt",
                        history_prior=True, gate_learned_force=True).double()

    gated, alone = model(Push()), model(NoForce())
    with torch.no_grad():
        paths = [m.rollout(data, [seen - 1, seen, seen + 3], generator=torch.Generator().manual_seed(9))
                 for m in (gated, alone)]
    torch.testing.assert_close(paths[0], paths[1], rtol=0, atol=0)
    gated.loss(data, window=3, loss="energy", samples=2, generator=torch.Generator().manual_seed(1)).backward()
    assert gated.force_gate.grad is not None and float(gated.force_gate.grad.abs()) > 0


@pytest.mark.parametrize("options, match", [
    ({"gate_learned_force": True}, "gate_learned_force needs history_prior=True"),
    ({"history_prior": True, "gate_learned_force": 1}, "gate_learned_force must be True or False"),
    ({"history_prior": True, "noise": "full"}, "history_prior needs noise='fdt'"),
    ({"history_prior": "yes"}, "history_prior must be True or False"),
    ({"history_prior": True, "prior_floor": 0.0}, "prior_floor must be a positive number"),
    ({"history_prior": True, "prior_shape": "full"}, "prior_shape must be one of"),
    ({"centroid_confinement": 0.5}, "centroid_confinement below 1 loosens the history well: it needs history_p"),
    ({"history_prior": True, "centroid_confinement": 0.0}, "centroid_confinement must be a number in"),
    ({"history_prior": True, "centroid_confinement": True}, "centroid_confinement must be a number in"),
])
def test_bad_prior_options_give_one_clear_error(options, match):
    base = dict(solver="sde", method="baoab", friction=0.5, noise="fdt")
    with pytest.raises(ValueError, match=match):
        NeuralMD(NoForce(), **{**base, **options})


def test_predict_without_start_is_refused_by_name():
    n = 3
    data = point_record(history(n, 4, 0, torch.zeros(n, 3, dtype=F64), 0.1, seed=7),
                        torch.full((n,), 12.0, dtype=F64), "s")
    x0 = data["ligand"].pos[:, -1]
    with pytest.raises(ValueError, match="history_prior reads the snapshots before the start"):
        prior_model().predict(data, x0, torch.zeros_like(x0), torch.arange(3, dtype=F64))


def test_loosened_well_keeps_the_relative_forces_and_a_share_of_the_net_force():
    # Every atom's acceleration shifts by one vector: the forces of the atoms relative to the
    # centre of mass are the well's, the net force on each complex is c times the well's, and
    # each complex is loosened on its own (batch-independent).
    pos = history(6, 5, 1, torch.randn(6, 3, dtype=F64), 0.2, seed=11)
    mass = torch.tensor([12.0, 1.0, 16.0, 14.0, 1.0, 32.0], dtype=F64)
    batch = torch.tensor([0, 0, 0, 1, 1, 1])
    well = history_well(pos, torch.full((6,), 4), torch.tensor(1.5, dtype=F64), floor=0.01, shape="anisotropic")
    loose = loosen_centroid(well, mass=mass, batch=batch, num=2, confinement=0.25)
    x = pos[:, -2] + 0.3 * torch.randn(6, 3, dtype=F64, generator=torch.Generator().manual_seed(12))
    f, g = well(x), loose(x)
    for atoms in (slice(0, 3), slice(3, 6)):
        m = mass[atoms].unsqueeze(-1)
        torch.testing.assert_close(g[atoms].sum(0), 0.25 * f[atoms].sum(0))
        shift = g[atoms] / m - f[atoms] / m                  # the same vector for every atom
        torch.testing.assert_close(shift, shift[:1].expand_as(shift))
    alone = loosen_centroid(well, mass=mass, batch=torch.zeros(6, dtype=torch.long), num=1,
                            confinement=0.25)
    assert not torch.allclose(alone(x), g)       # one complex of six atoms is a different system


def test_loosened_well_lets_the_centre_of_mass_spread_by_one_over_the_confinement():
    # Uniform friction, no learned force: the centre of mass moves c times as stiffly held, so its
    # long-run variance is the full well's divided by c, while the atoms' spread about it stays.
    n, seen = 4, 60
    atoms = 3 * n
    centre = torch.randn(atoms, 3, dtype=F64, generator=torch.Generator().manual_seed(13))
    pos = history(atoms, seen, 2, centre, 0.1, seed=14)
    mass = torch.tensor([12.0, 1.0, 16.0] * n, dtype=F64)
    copies = [point_record(pos[3 * k:3 * k + 3], mass[:3], f"c{k}") for k in range(n)]
    from torch_geometric.data import Batch
    data = Batch.from_data_list(copies)

    def spreads(confinement):
        model = prior_model(kT=2.0, prior_floor=0.02, centroid_confinement=confinement)
        with torch.no_grad():
            xs = model.rollout(data, torch.arange(seen - 1, seen + 400, dtype=F64),
                               generator=torch.Generator().manual_seed(15), samples=8)
        late = xs[:, 100:].reshape(8, -1, n, 3, 3)                      # (S, T, complex, atom, xyz)
        com = (late * mass[:3, None]).sum(-2) / mass[:3].sum()
        return (com - com.mean((0, 1))).pow(2).mean(), (late - com.unsqueeze(-2)).pow(2).mean()

    tight_com, tight_rel = spreads(1.0)
    loose_com, loose_rel = spreads(0.25)
    assert float(loose_com / tight_com) == pytest.approx(4.0, rel=0.25)
    assert float(loose_rel / tight_rel) == pytest.approx(1.0, rel=0.15)

"""The history-fitted baselines (MeanPose, Stationary, RandomWalk) and the ensemble interface."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from _dynamics_toys import make_batch, make_record
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import (LinearBaseline, MeanPoseBaseline, NeuralMD, OrnsteinUhlenbeckBaseline,
                               RandomWalkBaseline, StaticBaseline, StationaryBaseline)
from neuralmd.dynamics._baselines import (observed_centroid_covariance, observed_lag1_correlation,
                                          observed_mean_and_spread, observed_msd)
from neuralmd.layers import BindingNet


def test_mean_pose_is_the_mean_of_the_observed_snapshots_only():
    data = make_record(0, T=12)
    start = 7
    pred = MeanPoseBaseline().rollout(data, torch.arange(start, 12))
    pos = data["ligand"].pos.numpy()
    np.testing.assert_allclose(pred[0].numpy(), pos[:, start])
    np.testing.assert_allclose(pred[1:].numpy(), np.broadcast_to(pos[:, :start + 1].mean(1), (4, *pos.shape[::2])),
                               atol=1e-12)
    # what comes after the start must not change the prediction
    future = data.clone()
    future["ligand"].pos = data["ligand"].pos.clone()
    future["ligand"].pos[:, start + 1:] += 100.0
    assert torch.equal(MeanPoseBaseline().rollout(future, torch.arange(start, 12)), pred)


def test_stationary_samples_have_the_observed_mean_and_isotropic_spread():
    data = make_record(1, n_lig=4, T=10)
    start = 9 - 1
    out = StationaryBaseline().rollout(data, [start, start + 1, start + 2],
                                       generator=torch.Generator().manual_seed(0), samples=4000)
    draws = out[:, 1:].reshape(-1, 4, 3).numpy()                       # (K * 2, N, 3)
    obs = data["ligand"].pos[:, :start + 1].numpy()                    # (N, 9, 3)
    mean = obs.mean(1)
    var = ((obs - mean[:, None]) ** 2).sum((1, 2)) / (3 * (obs.shape[1] - 1))
    np.testing.assert_allclose(draws.mean(0), mean, atol=4 * np.sqrt(var.max() / draws.shape[0]))
    np.testing.assert_allclose(draws.var(0), np.repeat(var[:, None], 3, 1), rtol=0.08)
    assert torch.equal(out[:, 0], data["ligand"].pos[:, start].expand(4000, -1, -1))


def test_anisotropic_stationary_samples_have_the_observed_covariance():
    data = make_record(1, n_lig=4, T=10)
    start = 9 - 1
    out = StationaryBaseline(shape="anisotropic").rollout(data, [start, start + 1, start + 2],
                                                          generator=torch.Generator().manual_seed(0), samples=4000)
    draws = out[:, 1:].reshape(-1, 4, 3).numpy()                       # (K * 2, N, 3)
    obs = data["ligand"].pos[:, :start + 1].numpy()                    # (N, 9, 3)
    centred = obs - obs.mean(1, keepdims=True)
    cov = np.einsum("ntk,ntl->nkl", centred, centred) / (obs.shape[1] - 1)
    sampled = np.einsum("snk,snl->nkl", draws - draws.mean(0), draws - draws.mean(0)) / (draws.shape[0] - 1)
    scale = np.sqrt(np.einsum("nkk->nk", cov))                         # per-axis sd, for a relative check
    np.testing.assert_allclose(sampled / (scale[:, :, None] * scale[:, None, :]),
                               cov / (scale[:, :, None] * scale[:, None, :]), atol=0.06)
    np.testing.assert_allclose(draws.mean(0), obs.mean(1), atol=4 * np.sqrt(scale.max() ** 2 / draws.shape[0]))
    with pytest.raises(ValueError, match="shape must be one of"):
        StationaryBaseline(shape="full")


def test_observed_centroid_covariance_is_that_of_each_complexs_centre_of_mass():
    batch_data = make_batch([make_record(1, n_lig=4, T=10), make_record(2, n_lig=3, T=10)])
    pos, mass = batch_data["ligand"].pos, batch_data["ligand"].mass.double()
    start = torch.tensor([8] * 4 + [6] * 3)
    cov = observed_centroid_covariance(pos, start, mass, batch_data["ligand"].batch, 2)
    for k, (atoms, last) in enumerate([(slice(0, 4), 8), (slice(4, 7), 6)]):
        m = mass[atoms]
        centre = (m.view(-1, 1, 1) * pos[atoms, :last + 1]).sum(0) / m.sum()          # (T, 3)
        torch.testing.assert_close(cov[k], torch.cov(centre.T))


def test_loosened_stationary_moves_each_draw_rigidly_by_the_centroids_extra_spread():
    # c = 0.25: the draws' centre of mass gains (1 / c - 1) C, C the observed centre's covariance,
    # while the atoms' spread about their own centre is Stationary's.
    data = make_record(1, n_lig=4, T=10)
    start, c = 8, 0.25
    times = [start, start + 1, start + 2]

    def draws(confinement):
        out = StationaryBaseline(shape="anisotropic", centroid_confinement=confinement).rollout(
            data, times, generator=torch.Generator().manual_seed(0), samples=4000)
        return out[:, 1:].reshape(-1, 4, 3)

    mass = data["ligand"].mass.double()
    centre = lambda x: (mass.view(-1, 1) * x).sum(-2) / mass.sum()                    # noqa: E731
    tight, loose = draws(1.0), draws(c)
    cov = observed_centroid_covariance(data["ligand"].pos, torch.full((4,), start), mass,
                                       torch.zeros(4, dtype=torch.long), 1)[0]
    extra = torch.cov(centre(loose).T) - torch.cov(centre(tight).T)
    scale = cov.diagonal().sqrt()
    torch.testing.assert_close(extra / (scale[:, None] * scale[None]), (1 / c - 1) * cov / (scale[:, None] * scale[None]),
                               atol=0.3, rtol=0)           # a factor 1 / c instead of 1 / c - 1 is off by 1
    relative = lambda x: x - centre(x).unsqueeze(-2)                                   # noqa: E731
    torch.testing.assert_close(relative(loose).var(0), relative(tight).var(0), rtol=0.1, atol=0)
    with pytest.raises(ValueError, match="centroid_confinement must be a number in"):
        StationaryBaseline(centroid_confinement=0.0)


def test_random_walk_spread_grows_as_the_observed_msd_then_stays():
    data = make_record(2, n_lig=3, T=8, motion="linear")      # MSD grows as lag^2
    start = 4
    pos = data["ligand"].pos.numpy()
    msd = np.zeros((3, start + 1))
    for lag in range(1, start + 1):
        msd[:, lag] = ((pos[:, lag:start + 1] - pos[:, :start + 1 - lag]) ** 2).sum(-1).mean(1)
    np.testing.assert_allclose(observed_msd(data["ligand"].pos, torch.full((3,), start)).numpy(), msd,
                               atol=1e-12)
    times = [start, start + 1, start + 2, start + 6]                       # lag 6 > 4 observed: capped
    out = RandomWalkBaseline().rollout(data, times, generator=torch.Generator().manual_seed(1), samples=6000)
    disp = (out - out[:, :1]).numpy()
    expected = np.stack([msd[:, 1], msd[:, 2], msd[:, 4]], 0) / 3            # (lags, N)
    np.testing.assert_allclose(disp[:, 1:].var(0).mean(-1), expected, rtol=0.08)


def _ou_record(phi: float, spread: float, T: int):
    """A record whose atoms each follow an exact AR(1) (an Ornstein-Uhlenbeck process sampled once
    per snapshot) with lag-1 autocorrelation ``phi`` and stationary per-coordinate spread ``spread``."""
    data = make_record(4, n_lig=3, T=T)
    g = torch.Generator().manual_seed(3)
    centre = torch.randn(3, 3, generator=g, dtype=torch.float64) * 2
    d = torch.zeros(3, T, 3, dtype=torch.float64)
    d[:, 0] = spread * torch.randn(3, 3, generator=g, dtype=torch.float64)
    for t in range(1, T):
        d[:, t] = phi * d[:, t - 1] + (1 - phi**2) ** 0.5 * spread * torch.randn(3, 3, generator=g, dtype=torch.float64)
    data["ligand"].pos = centre.unsqueeze(1) + d
    return data


def test_ornstein_uhlenbeck_fits_the_autocorrelation_and_samples_the_ar1_law():
    data = _ou_record(phi=0.6, spread=0.5, T=2000)
    start = 1999   # the last snapshot: the forecast runs past the record (nothing after it is read)
    start_all = torch.full((3,), start)
    phi = observed_lag1_correlation(data["ligand"].pos, start_all)
    np.testing.assert_allclose(phi.numpy(), 0.6, atol=0.06)
    mean, var = observed_mean_and_spread(data["ligand"].pos, start_all)
    out = OrnsteinUhlenbeckBaseline().rollout(data, [start, start + 1, start + 3],
                                              generator=torch.Generator().manual_seed(0), samples=3000)
    x0 = data["ligand"].pos[:, start]
    for k, lag in ((1, 1), (2, 3)):   # the second step spans two snapshots: a = phi^2, not phi
        decay = phi.pow(lag).unsqueeze(-1)
        expected_var = (1 - phi.pow(2 * lag)) * var                                        # (N,)
        draws = out[:, k]
        np.testing.assert_allclose(draws.mean(0).numpy(), (mean + decay * (x0 - mean)).numpy(),
                                   atol=float(4 * (expected_var.max() / 3000) ** 0.5))
        np.testing.assert_allclose(draws.var(0).numpy(), expected_var.unsqueeze(-1).expand(3, 3).numpy(), rtol=0.12)
    # i.i.d. snapshots have no memory: the fit is ~0 and the ensemble is Stationary's at once
    iid = _ou_record(phi=0.0, spread=0.5, T=3000)
    assert observed_lag1_correlation(iid["ligand"].pos, start_all).max() < 0.06
    # a ligand that has not moved has a zero fit (not a division by zero), and stays put
    still = make_record(4, n_lig=3, T=8, motion="static")
    still["ligand"].pos = torch.full_like(still["ligand"].pos, 0.5)      # exact means: no round-off spread
    assert torch.equal(observed_lag1_correlation(still["ligand"].pos, torch.full((3,), 5)),
                       torch.zeros(3, dtype=torch.float64))
    assert torch.equal(OrnsteinUhlenbeckBaseline().rollout(still, [5, 6, 7]), StaticBaseline().rollout(still, [5, 6, 7]))


def test_history_baselines_reduce_to_static_with_one_observed_snapshot():
    data = make_record(3)
    for model in (MeanPoseBaseline(), StationaryBaseline(), RandomWalkBaseline(), OrnsteinUhlenbeckBaseline()):
        out = model.rollout(data, [0, 1, 2], generator=torch.Generator().manual_seed(0))
        assert torch.equal(out, StaticBaseline().rollout(data, [0, 1, 2]))


def test_ensembles_of_deterministic_models_are_identical_copies():
    data = make_record(0)
    for model in (StaticBaseline(), LinearBaseline(), MeanPoseBaseline()):
        assert not model.stochastic
        out = model.rollout(data, [2, 3, 4], samples=3)
        assert out.shape == (3, 3, 6, 3)
        assert torch.equal(out[0], out[2]) and torch.equal(out[0], model.rollout(data, [2, 3, 4]))


def test_ensemble_samples_differ_and_sample_k_does_not_depend_on_how_many_are_drawn():
    torch.manual_seed(0)
    sde = NeuralMD(BindingNet(hidden=8, num_layers=1), solver="sde", noise_scale=1.0).double().eval()
    assert sde.stochastic and not NeuralMD(BindingNet(hidden=8, num_layers=1)).stochastic
    data = make_batch([make_record(0), make_record(1)])
    for model in (sde, StationaryBaseline(), RandomWalkBaseline(), OrnsteinUhlenbeckBaseline()):
        with torch.no_grad():
            four = model.rollout(data, [2, 3, 4], generator=torch.Generator().manual_seed(5), samples=4)
            two = model.rollout(data, [2, 3, 4], generator=torch.Generator().manual_seed(5), samples=2)
        assert torch.equal(four[:2], two)
        assert (four[0, 1:] - four[1, 1:]).abs().max() > 1e-3
        assert torch.equal(four[:, 0], data["ligand"].pos[:, 2].expand(4, -1, -1))


@pytest.mark.parametrize("samples", [0, -1, 1.5, True])
def test_bad_sample_counts_are_refused(samples):
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        StaticBaseline().rollout(make_record(0), [1, 2], samples=samples)


def test_two_dimensional_times_are_refused():
    with pytest.raises(ValueError, match="times must be 1-D"):
        StaticBaseline().rollout(make_record(0), [[1, 2], [3, 4]])


def test_a_batch_mixing_snapshot_intervals_is_refused():
    a, b = make_record(0), make_record(1)
    a.dt_ps, b.dt_ps = 0.5, 0.05
    with pytest.raises(ValueError, match="different snapshot intervals"):
        StaticBaseline().rollout(make_batch([a, b]), [1, 2])
    b.dt_ps = 0.5
    assert StaticBaseline().rollout(make_batch([a, b]), [1, 2]).shape[0] == 2

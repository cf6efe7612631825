"""Per-atom RMSF, ligand features, Jensen-Shannon divergence and autocorrelation, against numpy."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuralmd.metrics import (atom_rmsf, autocorrelation, centroid_displacement, decorrelation_time,
                              jensen_shannon, nearest_ca_distance, rmsd_to_reference, rmsf_ratio)


def test_atom_rmsf_matches_numpy_for_a_trajectory_and_an_ensemble():
    rng = np.random.default_rng(0)
    traj = rng.normal(size=(10, 4, 3))
    expected = np.sqrt(((traj - traj.mean(0)) ** 2).sum(-1).mean(0))
    np.testing.assert_allclose(atom_rmsf(torch.from_numpy(traj)).numpy(), expected, rtol=1e-12)
    ens = rng.normal(size=(3, 10, 4, 3))
    per_sample = ((ens - ens.mean(1, keepdims=True)) ** 2).sum(-1).mean(1)       # (K, N)
    np.testing.assert_allclose(atom_rmsf(torch.from_numpy(ens)).numpy(), np.sqrt(per_sample.mean(0)), rtol=1e-12)


def test_rmsf_ratio_is_one_for_the_truth_zero_for_a_frozen_ligand_and_per_complex():
    rng = np.random.default_rng(1)
    target = torch.from_numpy(rng.normal(size=(8, 5, 3)))
    batch = torch.tensor([0, 0, 1, 1, 1])
    assert rmsf_ratio(target, target, batch) == pytest.approx(1.0)
    assert rmsf_ratio(target[:1].expand(8, -1, -1), target, batch) == 0.0
    scaled = target.clone()
    scaled[:, 2:] *= 3          # complex 1 three times as mobile: (1 + 3) / 2
    assert rmsf_ratio(scaled, target, batch) == pytest.approx(2.0)


def test_features_match_numpy():
    rng = np.random.default_rng(2)
    traj, ref = rng.normal(size=(6, 5, 3)), rng.normal(size=(5, 3))
    batch = np.array([0, 0, 0, 1, 1])
    z = np.array([6, 1, 8, 7, 1])
    t = lambda a: torch.from_numpy(a)  # noqa: E731
    got = centroid_displacement(t(traj), t(ref), t(batch)).numpy()
    for b in (0, 1):
        m = batch == b
        np.testing.assert_allclose(got[:, b], np.linalg.norm(traj[:, m].mean(1) - ref[m].mean(0), axis=-1))
        h = m & (z > 1)
        np.testing.assert_allclose(rmsd_to_reference(t(traj), t(ref), t(z), t(batch)).numpy()[:, b],
                                   np.sqrt(((traj[:, h] - ref[h]) ** 2).sum(-1).mean(1)))
    ca = rng.normal(size=(7, 3)) * 3
    res_batch = np.array([0, 0, 0, 1, 1, 1, 1])
    dist = nearest_ca_distance(t(traj), t(ca), t(batch), t(res_batch)).numpy()
    for i in range(5):
        own = ca[res_batch == batch[i]]
        np.testing.assert_allclose(dist[:, i], np.linalg.norm(traj[:, i, None] - own[None], axis=-1).min(-1))


def numpy_jsd(a, b, bins):
    lo, hi = min(a.min(), b.min()), max(a.max(), b.max())
    p = np.histogram(a, bins, (lo, hi))[0] / a.size
    q = np.histogram(b, bins, (lo, hi))[0] / b.size
    m = (p + q) / 2
    kl = lambda x: np.sum(np.where(x > 0, x * np.log(np.where(x > 0, x, 1) / np.where(m > 0, m, 1)), 0))  # noqa: E731
    return (kl(p) + kl(q)) / 2


def test_jensen_shannon_matches_numpy_and_its_bounds():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=500), rng.normal(0.7, 1.3, size=400)
    assert jensen_shannon(torch.from_numpy(a), torch.from_numpy(b), bins=12) == pytest.approx(
        numpy_jsd(a, b, 12), abs=1e-12)
    assert jensen_shannon(torch.from_numpy(a), torch.from_numpy(a)) == pytest.approx(0.0, abs=1e-12)
    assert jensen_shannon(torch.zeros(50), torch.ones(50)) == pytest.approx(math.log(2))
    assert jensen_shannon(torch.ones(3), torch.ones(4)) == 0.0
    with pytest.raises(ValueError, match="NaN or inf"):
        jensen_shannon(torch.tensor([1.0, float("nan")]), torch.ones(2))


def test_autocorrelation_of_an_ar1_process_and_its_decorrelation_time():
    gen = np.random.default_rng(4)
    phi, num = 0.8, 20000
    x = np.zeros((4, num))
    for t in range(1, num):
        x[:, t] = phi * x[:, t - 1] + gen.normal(size=4)
    acf = autocorrelation(torch.from_numpy(x), max_lag=10)
    np.testing.assert_allclose(acf.numpy(), phi ** np.arange(11), atol=0.03)
    assert decorrelation_time(acf) == pytest.approx(-1 / math.log(phi), rel=0.1)   # 4.48 snapshots
    assert decorrelation_time(torch.tensor([1.0, 0.9, 0.8])) == math.inf
    assert decorrelation_time(torch.tensor([1.0, 0.0])) == pytest.approx(1 - 1 / math.e)
    assert torch.isnan(autocorrelation(torch.ones(5))[1:]).all()

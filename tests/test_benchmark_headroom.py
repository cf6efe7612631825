"""benchmarks/headroom.py: the conditioned Gaussian and the kernel density have the laws they claim,
and both checks run on a small file, reading only what they may."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)
from test_reference_poses import one_complex_file  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks import headroom  # noqa: E402


def walk(steps: int = 40, atoms: int = 3, seed: int = 0) -> torch.Tensor:
    """(N, S, 3) a correlated trajectory: an AR(1) path per atom."""
    g = torch.Generator().manual_seed(seed)
    x = [torch.randn(atoms, 3, generator=g, dtype=torch.float64)]
    for _ in range(steps - 1):
        x.append(0.8 * x[-1] + 0.6 * torch.randn(atoms, 3, generator=g, dtype=torch.float64))
    return torch.stack(x, 1)


def test_conditioning_on_the_last_snapshot_is_the_observed_correlation_law():
    seen = walk()
    lags = torch.tensor([1.0, 3.0], dtype=torch.float64)
    mean, cov = headroom.moments(seen)
    centred = seen - mean.unsqueeze(1)
    n = seen.shape[1]
    corr = [(centred[:, k:] * centred[:, :n - k]).sum((1, 2)) / (3 * (n - k)) for k in (0, 1, 3)]
    draws = headroom.conditioned(seen, lags, past=1)(torch.zeros(1, 2, 3, 3, dtype=torch.float64))[0]
    for t, k in enumerate((1, 2)):
        r = (corr[k] / corr[0]).unsqueeze(-1)
        assert torch.allclose(draws[t], mean + r * centred[:, -1], atol=1e-5)      # its mean at lag 1 and 3
    unit = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    unit[..., 0] = 1.0                                      # the first column of each atom's root
    spread = headroom.conditioned(seen, lags, past=1)(unit)[0] - draws
    r1 = (corr[1] / corr[0]).unsqueeze(-1)                   # its spread at lag 1: sqrt(1 - r^2) C^(1/2)
    assert torch.allclose(spread[0], (1 - r1.square()).sqrt() * headroom.symmetric_sqrt(cov)[..., 0], atol=1e-5)
    with pytest.raises(ValueError, match="needs more than"):
        headroom.conditioned(seen[:, :4], lags, past=2)


def test_the_kernel_density_keeps_the_pools_mean_and_covariance():
    pool = walk(steps=30, seed=1)
    mean, cov = headroom.moments(pool)
    g = torch.Generator().manual_seed(2)
    z = torch.randn(20000, 1, 3, 3, generator=g, dtype=torch.float64)
    gaussian = headroom.shrinkage_kde(pool, bandwidth=1.0, generator=g)(z)
    assert torch.allclose(gaussian, mean + torch.einsum("nij,ktnj->ktni", headroom.symmetric_sqrt(cov), z))
    draws = headroom.shrinkage_kde(pool, bandwidth=0.3, generator=g)(z)[:, 0]                  # (K, N, 3)
    found = torch.einsum("kni,knj->nij", draws - mean, draws - mean) / len(draws)
    scale = cov.diagonal(dim1=-2, dim2=-1).sum(-1)
    assert ((draws.mean(0) - mean).norm(dim=-1) / scale.sqrt()).max() < 0.05
    assert ((found - cov).abs() / scale.view(-1, 1, 1)).max() < 0.05
    with pytest.raises(ValueError, match="bandwidth"):
        headroom.shrinkage_kde(pool, bandwidth=0.0, generator=g)


def test_both_checks_run_and_report_ratios(one_complex_file: Path, capsys):  # noqa: F811
    common = ["--data", str(one_complex_file), "--seeds", "0", "--samples", "4"]
    headroom.main(["backtest", *common, "--seen", "10", "--first-origin", "5", "--horizon", "2", "--every", "2",
                   "--past", "1", "2"])
    out = capsys.readouterr().out
    assert "| OrnsteinUhlenbeck (anisotropic) | " in out and "1.000 [1.000, 1.000]" in out
    assert out.count("| conditioned on the last") == 2 and "4 trajectories" in out
    headroom.main(["pocket", *common, "--train", "C_00", "C_01", "--test", "C_02", "C_03", "--start", "4",
                   "--bandwidths", "1", "0.5"])
    out = capsys.readouterr().out
    assert "| kernel density, h = 0.5 |" in out and "2 trajectories" in out

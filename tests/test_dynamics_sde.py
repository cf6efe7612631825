"""NeuralMD-SDE and the stochastic helpers: seeding, a real diffusion term, learned noise scale."""
from __future__ import annotations

import pytest
import torch
from e3nn import o3
from hypothesis import given, settings
from hypothesis import strategies as st
from _dynamics_toys import ToyForceField, make_batch, make_record, toy_factory
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import DenoisingLD, NeuralMD
from neuralmd.frames import vectorize
from neuralmd.dynamics._noise import (ComplexBrownian, ComplexNoise, atom_frames, complex_keys,
                                      complex_seeds, equivariant_noise)


def sde(method="euler", **kw):
    return NeuralMD(ToyForceField().double(), solver="sde", method=method, step_size=0.5,
                    ligand_factory=toy_factory, **kw).double()


@pytest.mark.parametrize("method", ["euler", "srk"])
def test_same_seed_same_path_different_seed_different_path(method):
    model = sde(method, noise_scale=0.5)
    data = make_batch([make_record(0), make_record(1)])
    times = [1, 2, 3, 4]
    a = model.rollout(data, times, generator=torch.Generator().manual_seed(3))
    b = model.rollout(data, times, generator=torch.Generator().manual_seed(3))
    c = model.rollout(data, times, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b)
    assert (a[1:] - c[1:]).abs().max() > 1e-3
    torch.manual_seed(11)  # no generator: torch's global generator decides
    d = model.rollout(data, times)
    torch.manual_seed(11)
    assert torch.equal(d, model.rollout(data, times))


def test_sde_is_a_real_sde_noise_scales_with_sigma_and_vanishes_without_it():
    data = make_record(0)
    ode = NeuralMD(ToyForceField().double(), method="euler", step_size=0.5, ligand_factory=toy_factory).double()
    ref = ode.rollout(data, [1, 2, 3])
    spreads = []
    for sigma in (1e-9, 0.1, 1.0):
        model = sde(noise_scale=sigma)
        outs = torch.stack([model.rollout(data, [1, 2, 3], generator=torch.Generator().manual_seed(s))
                            for s in range(6)])
        spreads.append(float((outs - ref).detach().abs().mean()))
    # Euler-Maruyama with vanishing noise is the ODE's Euler method
    assert spreads[0] < 1e-8
    assert spreads[1] > 1e-4 and spreads[2] > 5 * spreads[1]


def test_noise_scale_is_learned():
    model = sde(noise_scale=0.3)
    data = make_batch([make_record(0), make_record(1)])
    before = float(model.noise_scale.detach())
    loss = model.loss(data, window=3, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert model.log_noise_scale.grad is not None and model.log_noise_scale.grad.abs() > 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.diffusion.parameters())
    torch.optim.SGD([model.log_noise_scale], lr=0.5).step()
    assert float(model.noise_scale.detach()) != before


def test_complex_keys_and_seeds_depend_on_id_not_position():
    assert complex_keys(["a", "b", "a"]) == ["a#0", "b#0", "a#1"]
    s1 = complex_seeds(42, ["x", "y"])
    s2 = complex_seeds(42, ["y", "x"])
    assert s1 == s2[::-1] and s1[0] != s1[1]
    assert complex_seeds(43, ["x"]) != complex_seeds(42, ["x"])
    assert all(0 <= s < 2**63 for s in s1)


def test_brownian_of_a_complex_does_not_depend_on_the_batch():
    cpu64 = dict(dtype=torch.float64, device=torch.device("cpu"))
    bm_batch = ComplexBrownian(0.0, 2.0, [5, 9], [3, 4], **cpu64)
    bm_alone = ComplexBrownian(0.0, 2.0, [9], [4], **cpu64)
    assert bm_batch.shape == (7, 1)
    assert torch.equal(bm_batch(0.5, 1.0)[3:], bm_alone(0.5, 1.0))
    w, u = ComplexBrownian(0.0, 1.0, [1], [2], **cpu64, levy_area_approximation="space-time")(0.0, 0.5,
                                                                                                 return_U=True)
    assert w.shape == u.shape == (2, 1)


def test_complex_noise_streams_are_per_complex():
    a = ComplexNoise([1, 2], [3, 2], torch.float64, torch.device("cpu")).sample(3)
    b = ComplexNoise([2], [2], torch.float64, torch.device("cpu")).sample(3)
    assert a.shape == (5, 3) and torch.equal(a[3:], b)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 12))
def test_equivariant_noise_rotates_and_is_orthonormal(seed, n):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g, dtype=torch.float64) * 2
    batch = torch.zeros(n, dtype=torch.long)
    eps = torch.randn(n, 3, generator=g, dtype=torch.float64)
    rot = o3.rand_matrix(dtype=torch.float64)
    shift = torch.randn(3, dtype=torch.float64)
    frames = atom_frames(x, batch, 1)
    torch.testing.assert_close(frames @ frames.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand(n, 3, 3))
    # norms are preserved: isotropic Gaussians stay isotropic Gaussians
    noise = equivariant_noise(x, batch, 1, eps)
    torch.testing.assert_close(noise.norm(dim=-1), eps.norm(dim=-1))
    moved = equivariant_noise(x @ rot.T + shift, batch, 1, eps)
    torch.testing.assert_close(moved, noise @ rot.T, rtol=0, atol=1e-10)


def test_equivariant_noise_is_isotropic_in_distribution():
    torch.manual_seed(0)
    x = torch.randn(5, 3, dtype=torch.float64)
    batch = torch.zeros(5, dtype=torch.long)
    frames = atom_frames(x, batch, 1)
    eps = torch.randn(4000, 5, 3, dtype=torch.float64)
    samples = vectorize(eps, frames.expand(4000, 5, 3, 3))
    torch.testing.assert_close(samples[0], equivariant_noise(x, batch, 1, eps[0]))
    cov = torch.einsum("sni,snj->nij", samples, samples) / samples.shape[0]
    torch.testing.assert_close(cov, torch.eye(3, dtype=torch.float64).expand(5, 3, 3), rtol=0, atol=0.1)


def test_denoising_same_seed_same_sample_and_seeds_differ():
    model = DenoisingLD(ToyForceField().double(), steps=3, ligand_factory=toy_factory).double()
    data = make_record(0)
    a = model.rollout(data, [1, 2, 3], generator=torch.Generator().manual_seed(1))
    b = model.rollout(data, [1, 2, 3], generator=torch.Generator().manual_seed(1))
    c = model.rollout(data, [1, 2, 3], generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and (a[1:] - c[1:]).abs().max() > 1e-4

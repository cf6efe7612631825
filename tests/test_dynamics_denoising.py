"""dynamics/_denoising.py: the noise ladder, the preconditioned denoiser, its training rules."""
from __future__ import annotations


import pytest
import torch
from _dynamics_toys import ToyForceField, make_record, toy_factory
from _dynamics_toys import one_thread  # noqa: F401  (autouse fixture)

from neuralmd.dynamics import DenoisingLD


def _model(**kw):
    return DenoisingLD(ToyForceField().double(), ligand_factory=toy_factory, **kw).double()


def test_the_ladder_is_geometric_from_sigma_max_to_sigma_min():
    sigmas = _model(steps=5, sigma_max=2.0, sigma_min=0.02).sigmas
    assert sigmas[0] == pytest.approx(2.0) and sigmas[-1] == pytest.approx(0.02)
    ratios = sigmas[1:] / sigmas[:-1]
    torch.testing.assert_close(ratios, torch.full_like(ratios, 0.01 ** 0.25))


def test_at_small_noise_the_denoiser_returns_the_noisy_pose():
    model = _model(steps=3)
    data = make_record(0)
    x_prev, y = data["ligand"].pos[:, 1], data["ligand"].pos[:, 2]
    # c_skip -> 1 and c_out -> 0 as sigma -> 0: D(y) -> y
    out = model.denoise(data, None, y, x_prev, 1e-8)
    torch.testing.assert_close(out, y, rtol=0, atol=1e-6)
    assert model._c_out(1e-8) == pytest.approx(1e-8, rel=1e-6)             # c_out ~ sigma at small sigma


def test_energy_training_is_refused_and_bad_ladders_too():
    with pytest.raises(ValueError, match="denoising score matching"):
        _model(steps=2).loss(make_record(0), window=2, loss="energy", samples=2)
    with pytest.raises(ValueError, match="sigma_min <= sigma_max"):
        _model(sigma_min=2.0, sigma_max=1.0)

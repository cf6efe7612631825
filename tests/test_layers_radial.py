"""Radial bases and the cutoff envelope: values, smoothness at the cutoff, finite gradients at 0."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from _layers_records import one_thread  # noqa: F401 (autouse fixture)
from neuralmd.layers import CosineCutoff, RadialBasis, cosine_cutoff, safe_norm
from neuralmd.layers._radial import MIN_BANDED_SAVING, MIN_EXPONENT, BandedBasis


def test_cosine_cutoff_values_and_smooth_end():
    r = torch.tensor([0.0, 2.5, 5.0, 7.0], dtype=torch.float64, requires_grad=True)
    w = cosine_cutoff(r, 5.0)
    torch.testing.assert_close(w.detach(), torch.tensor([1.0, 0.5, 0.0, 0.0], dtype=torch.float64))
    (grad,) = torch.autograd.grad(w.sum(), r)
    assert abs(grad[2]) < 1e-12 and grad[3] == 0  # zero slope at the cutoff: forces do not jump
    assert CosineCutoff(5.0)(r).equal(w)


@pytest.mark.parametrize("kind", ["gaussian", "bessel"])
def test_basis_vanishes_smoothly_at_the_cutoff_and_is_finite_at_zero(kind):
    rbf = RadialBasis(16, cutoff=4.0, kind=kind).double()
    r = torch.tensor([0.0, 1e-12, 1.0, 4.0 - 1e-6, 4.0, 9.0], dtype=torch.float64, requires_grad=True)
    out = rbf(r)
    assert out.shape == (6, 16)
    assert torch.isfinite(out).all() and out[0].abs().max() > 0.1
    assert out[3:].abs().max() < 1e-9
    (grad,) = torch.autograd.grad(out.sum(), r)
    assert torch.isfinite(grad).all() and grad[3:].abs().max() < 1e-3


@settings(max_examples=20, deadline=None)
@given(r=st.floats(0.0, 4.9), kind=st.sampled_from(["gaussian", "bessel"]))
def test_basis_is_continuous(r, kind):
    rbf = RadialBasis(8, cutoff=5.0, kind=kind).double()
    a, b = rbf(torch.tensor([r, r + 1e-7], dtype=torch.float64))
    assert (a - b).abs().max() < 1e-4


def test_safe_norm_has_a_finite_gradient_at_zero():
    v = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    n = safe_norm(v)
    (grad,) = torch.autograd.grad(n.sum(), v)
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(safe_norm(torch.tensor([[3.0, 4.0, 0.0]])), torch.tensor([5.0]))


def test_bad_arguments():
    with pytest.raises(ValueError):
        RadialBasis(8, 5.0, kind="fourier")
    with pytest.raises(ValueError):
        RadialBasis(0, 5.0)


def test_gaussian_exponent_clamp_changes_the_basis_by_less_than_its_floor():
    rbf = RadialBasis(96, cutoff=5.0).double()
    r = torch.linspace(0.0, 5.0, 501, dtype=torch.float64)
    exact = torch.exp(-rbf.gamma * (r.unsqueeze(-1) - rbf.centres.double()) ** 2) * cosine_cutoff(r.unsqueeze(-1), 5.0)
    assert (-rbf.gamma * (r.unsqueeze(-1) - rbf.centres.double()) ** 2 < MIN_EXPONENT).float().mean() > 0.5
    assert (rbf(r) - exact).abs().max() <= math.exp(MIN_EXPONENT)


@pytest.mark.parametrize("dtype, half", [(torch.float32, 7), (torch.float64, 9)])
@pytest.mark.parametrize("num_rbf", [40, 96])
def test_banded_basis_is_the_dense_one_without_its_negligible_functions(dtype, half, num_rbf):
    """Scattered back into (E, K) the band equals the dense basis to a thousandth of the dtype's
    rounding error, at every distance from 0 to past the cutoff (both ends, where the band is
    moved inside the basis)."""
    rbf = RadialBasis(num_rbf, cutoff=5.0).to(dtype)
    r = torch.cat((torch.linspace(0.0, 5.5, 1001, dtype=dtype), torch.tensor([1e-9, 4.999999], dtype=dtype)))
    assert rbf.band_half_width(dtype) == half
    with torch.no_grad():
        band = rbf.for_linear(r)
        dense = rbf(r)
    assert band.index.shape == band.values.shape == (r.shape[0], 2 * half + 1)
    assert band.index.min() >= 0 and band.index.max() < num_rbf
    assert (band.index.diff(dim=1) == 1).all()  # consecutive functions
    rebuilt = torch.zeros_like(dense).scatter_(1, band.index, band.values)
    assert (rebuilt - dense).abs().max() <= 1e-3 * torch.finfo(dtype).eps
    kept = dense.gather(1, band.index)
    assert torch.equal(kept, band.values)  # the kept entries are the dense basis's own values


def test_the_dense_basis_serves_where_a_band_does_not_pay():
    enough = -(-MIN_BANDED_SAVING // (96 - 15))  # distances for a band of 15 of 96 functions to pay
    r = torch.linspace(0.0, 5.0, enough)
    with torch.no_grad():
        assert isinstance(RadialBasis(96, 5.0).for_linear(r), BandedBasis)
        assert isinstance(RadialBasis(96, 5.0).for_linear(r[1:]), torch.Tensor)  # too few distances to pay
        many = torch.linspace(0.0, 5.0, 10 * enough)
        assert isinstance(RadialBasis(29, 5.0).for_linear(many), torch.Tensor)  # a band of 15 in float32: too wide
        assert isinstance(RadialBasis(30, 5.0).for_linear(many), BandedBasis)
        assert isinstance(RadialBasis(96, 5.0, kind="bessel").for_linear(r), torch.Tensor)
        assert isinstance(RadialBasis(96, 5.0).for_linear(r.view(-1, 1)), torch.Tensor)
        # off the CPU (here the meta device) the band's break-even is unmeasured: dense
        assert isinstance(RadialBasis(96, 5.0).to("meta").for_linear(r.to("meta")), torch.Tensor)
    # under autograd (training) the dense basis: the band's backward cost more than it saved
    assert isinstance(RadialBasis(96, 5.0).for_linear(r), torch.Tensor)

"""layers/_blocks.py: the invariant MLP, the normalised sum and the neighbour embedding.
(FrameInteraction is tested through the ligand and complex modules that use it.)"""
from __future__ import annotations

import pytest
import torch
from e3nn import o3

from neuralmd.layers import _blocks, _radial
from neuralmd.layers._blocks import MLP, NeighborEmbedding, aggregate, radial_linear
from neuralmd.layers._radial import BandedBasis, RadialBasis
from neuralmd.layers._weight_cache import WeightCache
from neuralmd.layers._neighbors import radius_graph

F64 = torch.float64


def test_mlp_maps_the_last_dimension():
    mlp = MLP(4, 8, 3)
    assert mlp(torch.randn(2, 5, 4)).shape == (2, 5, 3)


def test_aggregate_is_a_fixed_norm_sum_and_zero_without_neighbours():
    values = torch.tensor([[1.0], [2.0], [4.0]])
    out = aggregate(values, torch.tensor([0, 0, 2]), num=4, norm=2.0)
    assert out.squeeze(-1).tolist() == [1.5, 0.0, 2.0, 0.0]


def _embedding_inputs(seed: int = 0, n: int = 7):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, generator=g, dtype=F64) * 1.5
    z = torch.randn(n, 8, generator=g, dtype=F64)
    return z, pos, radius_graph(pos, 4.0)


@pytest.mark.parametrize("channels", [None, 3])
def test_neighbor_embedding_is_invariant_and_its_vectors_rotate(channels):
    torch.manual_seed(0)
    net = NeighborEmbedding(8, 6, 4.0, norm=5.0, vector_channels=channels).double()
    z, pos, edges = _embedding_inputs()
    h, vec = net(z, pos, edges)
    assert h.shape == (7, 8) and vec.shape == (7, 3, 3 if channels else 8)
    rot, shift = o3.rand_matrix(dtype=F64), torch.randn(3, dtype=F64)
    h2, vec2 = net(z, pos @ rot.T + shift, edges)
    torch.testing.assert_close(h2, h, rtol=0, atol=1e-12)
    torch.testing.assert_close(vec2, torch.einsum("ij,njc->nic", rot, vec), rtol=0, atol=1e-12)


def test_neighbor_embedding_chunks_give_the_whole_sum(monkeypatch):
    torch.manual_seed(0)
    net = NeighborEmbedding(8, 6, 4.0, norm=5.0).double()
    z, pos, edges = _embedding_inputs(n=9)
    whole = net(z, pos, edges)
    monkeypatch.setattr(_blocks, "EDGE_CHUNK", 5)          # several chunks
    chunked = net(z, pos, edges)
    for a, b in zip(whole, chunked):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_neighbor_embedding_without_smoothing_keeps_z_and_no_edges_give_zero_vectors():
    net = NeighborEmbedding(8, 6, 4.0, norm=5.0, smooth=False).double()
    z, pos, edges = _embedding_inputs()
    h, _ = net(z, pos, edges)
    assert torch.equal(h, z)
    _, vec = net(z, pos, edges[:, :0])
    assert torch.equal(vec, torch.zeros_like(vec))


@pytest.mark.parametrize("differentiate_rel", [True, False])
def test_outer_scatter_is_the_plain_sum_and_its_gradients_are_autograds(differentiate_rel):
    """The vector features' scatter of outer products (hand-written backward) against the plain
    formula; gradcheck and gradgradcheck in float64, with and without the positions differentiated
    (a ligand in training; a protein's fixed atoms)."""
    g = torch.Generator().manual_seed(4)
    rel = torch.randn(11, 3, dtype=F64, generator=g, requires_grad=differentiate_rel)
    message = torch.randn(11, 5, dtype=F64, generator=g, requires_grad=True)
    index = torch.randint(0, 4, (11,), generator=g)
    plain = torch.zeros(6, 3, 5, dtype=F64).index_add(0, index, rel.unsqueeze(-1) * message.unsqueeze(-2))
    torch.testing.assert_close(_blocks.outer_scatter(rel, message, index, 6), plain, rtol=0, atol=1e-14)
    upstream = torch.randn(6, 3, 5, dtype=F64, generator=g)
    inputs = [t for t in (rel, message) if t.requires_grad]
    ours = torch.autograd.grad(_blocks.outer_scatter(rel, message, index, 6), inputs, upstream)
    expected = torch.autograd.grad(plain, inputs, upstream)
    for a, b in zip(ours, expected):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)

    def fn(*args):
        return _blocks.outer_scatter(*(args if differentiate_rel else (rel, *args)), index, 6)

    assert torch.autograd.gradcheck(fn, tuple(inputs))
    assert torch.autograd.gradgradcheck(fn, tuple(inputs))


def test_a_product_with_a_banded_basis_is_the_dense_product_and_follows_weight_updates():
    """radial_linear gathers the band's rows from a cached copy of the weight block: the same
    product as with the dense basis to round-off, rebuilt after an in-place update (an optimizer
    step, load_state_dict)."""
    torch.manual_seed(0)
    rbf = RadialBasis(64, cutoff=5.0).double()
    linear = torch.nn.Linear(64, 10, bias=False).double()
    r = torch.rand(200, dtype=F64) * 5.0
    cache = WeightCache()
    with torch.no_grad():
        band = rbf.for_linear(r)
        assert isinstance(band, BandedBasis)
        for _ in range(2):
            torch.testing.assert_close(radial_linear(band, linear.weight.t(), cache), linear(rbf(r)), rtol=1e-13, atol=1e-13)
            linear.weight.mul_(-2.0)
        edges = slice(20, 50)
        torch.testing.assert_close(radial_linear(band.rows(edges), linear.weight.t(), cache), linear(rbf(r[edges])),
                                   rtol=1e-13, atol=1e-13)


def test_a_banded_products_gradients_are_the_dense_ones_to_second_order():
    """for_linear gives bands to rollouts only, but a band passed in under autograd is
    differentiated too: by its values and by the weights (rows of the table, built under autograd
    each call), first and second order, as the dense product's to round-off."""
    torch.manual_seed(1)
    rbf = RadialBasis(64, cutoff=5.0).double()
    weight = torch.randn(64, 6, dtype=F64, requires_grad=True)
    r = (torch.rand(100, dtype=F64) * 5.0).requires_grad_()
    probe = torch.randn(100, 6, dtype=F64)
    with torch.no_grad():
        index = rbf.for_linear(r).index
    band = BandedBasis(index, rbf(r).gather(1, index))  # values differentiable in r
    outputs = {"banded": radial_linear(band, weight, WeightCache()), "dense": rbf(r) @ weight}
    grads = {}
    for name, out in outputs.items():
        first = torch.autograd.grad((probe * out).sum(), [r, weight], create_graph=True)
        second = torch.autograd.grad(first[0].square().sum(), [r, weight])
        grads[name] = first + second
    for banded, dense in zip(grads["banded"], grads["dense"]):
        torch.testing.assert_close(banded, dense, rtol=1e-11, atol=1e-11)


def test_neighbor_embedding_with_a_banded_basis_gives_the_dense_result(monkeypatch):
    """The embedding builds a banded basis itself (a protein's encoding) or takes one (the
    ligand's): the dense basis's features to round-off, chunked or not."""
    torch.manual_seed(0)
    net = NeighborEmbedding(8, 40, 4.0, norm=5.0).double()
    z, pos, edges = _embedding_inputs(n=12)
    monkeypatch.setattr(_radial, "MIN_BANDED_SAVING", 10**9)  # the dense basis throughout
    dense = net(z, pos, edges)
    monkeypatch.setattr(_radial, "MIN_BANDED_SAVING", 1)  # a band for this small graph too
    src, dst = edges
    rel = pos[dst] - pos[src]
    with torch.no_grad():
        band = net.rbf.for_linear(rel.norm(dim=-1))
        assert isinstance(band, BandedBasis)
        outputs = [net(z, pos, edges), net(z, pos, edges, rel=rel, rbf=band)]
        monkeypatch.setattr(_blocks, "EDGE_CHUNK", 5)
        outputs += [net(z, pos, edges), net(z, pos, edges, rel=rel, rbf=band)]
    for banded in outputs:
        for a, b in zip(banded, dense):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)

"""Padded edge lists (``BindingNet(pad_edges=True)``, for CUDA graphs): a few fixed shapes, the same
forces and energies as without padding (float64), and the symmetries kept."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch

from _layers_records import one_thread, random_record  # noqa: F401 (autouse fixture)
from neuralmd.layers import BindingNet
from neuralmd.layers._padding import pad_edges, padded_size
from neuralmd.testing import assert_batch_independent, assert_equivariant, assert_reflection_sensitive


def test_padded_sizes_hold_the_count_waste_little_and_are_few():
    sizes = [padded_size(n) for n in range(0, 20000)]
    assert sizes[0] == 0
    assert all(s >= n for n, s in enumerate(sizes))
    assert all(a <= b for a, b in zip(sizes, sizes[1:]))  # monotone
    assert all(s - n < max(32, n / 8) for n, s in enumerate(sizes))  # < 32 rows or < 12.5 % of padding
    for low in (256, 1024, 8192):  # a rollout whose edge count wanders within a doubling meets <= 8 shapes
        assert len(set(sizes[low + 1 : 2 * low + 1])) == 8
    with pytest.raises(ValueError, match="count"):
        padded_size(-1)


def test_pad_edges_repeats_an_edge_with_zero_weight():
    edge_index = torch.tensor([[0, 1, 2], [1, 2, 0]])
    frames = torch.randn(3, 3, 3)
    padded, weight, (padded_frames,) = pad_edges(edge_index, frames, dtype=torch.float64)
    assert padded.shape == (2, 32) and padded.is_contiguous() and weight.dtype == torch.float64
    assert torch.equal(padded[:, :3], edge_index) and (padded[:, 3:] == edge_index[:, :1]).all()
    assert torch.equal(weight, torch.cat((torch.ones(3), torch.zeros(29))).double())
    assert torch.equal(padded_frames[3:], frames[:1].expand(29, 3, 3))


def _nets():
    torch.manual_seed(0)
    plain = BindingNet(hidden=16, num_layers=2).double()
    with torch.no_grad():
        for p in plain.parameters():
            p.mul_(2.0)  # far-from-zero, strongly geometry-dependent outputs (as test_layers_bindingnet)
    padded = BindingNet(hidden=16, num_layers=2, pad_edges=True).double()
    padded.load_state_dict(plain.state_dict())
    return plain, padded


PLAIN, PADDED = _nets()


def _shapes_seen(net, data, pos):
    """The edge counts the ligand's and the complex's message passing receive."""
    seen = {}
    for name, module in (("ligand", net.ligand), ("complex", net.complex)):
        def spy(*args, _name=name, _inner=type(module).message_passing.__get__(module), **kwargs):
            index = kwargs["edge_index"] if "edge_index" in kwargs else args[3]
            seen[_name] = (index.shape[1], kwargs.get("h_res", torch.empty(0)).shape[0])
            return _inner(*args, **kwargs)
        module.message_passing = spy
    try:
        out = net(data, pos)
    finally:
        del net.ligand.message_passing, net.complex.message_passing
    return out, seen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_padded_forces_and_energies_equal_the_plain_ones(seed):
    data = Batch.from_data_list([random_record(seed, 12), random_record(seed + 10, 7)])
    pos = data["ligand"].pos[:, 1]
    plain, plain_seen = _shapes_seen(PLAIN, data, pos)
    padded, padded_seen = _shapes_seen(PADDED, data, pos)
    assert plain.abs().max() > 1e-2
    torch.testing.assert_close(padded, plain, rtol=0, atol=1e-12)
    for part, (edges, _) in plain_seen.items():  # padding really happened, to the fixed sizes
        assert padded_seen[part][0] == padded_size(edges) > edges
    assert padded_seen["complex"][1] == padded_size(plain_seen["complex"][1])
    x = pos.clone().requires_grad_(True)
    grad_plain = torch.autograd.grad(PLAIN.energy(data, x).sum(), x)[0]
    grad_padded = torch.autograd.grad(PADDED.energy(data, x).sum(), x)[0]
    torch.testing.assert_close(grad_padded, grad_plain, rtol=0, atol=1e-12)


def test_padded_net_keeps_the_symmetries():
    data = random_record(3, 10)

    def forces(record):
        return PADDED(record, record["ligand"].pos[:, 0])

    assert_equivariant(forces, data, trials=2, rtol=1e-8)
    assert_reflection_sensitive(forces, data, min_relative_difference=1e-4)
    assert_batch_independent(forces, [random_record(s, 6 + s) for s in range(3)], atol=1e-12)


def test_no_edges_and_no_pocket_stay_unpadded_and_finite():
    data = random_record(7, 4)
    far_apart = data["ligand"].pos[:, 0] * 0 + torch.arange(4, dtype=torch.float64)[:, None] * 50.0 + 500.0
    out = PADDED(data, far_apart)  # no ligand edge, no residue in range
    torch.testing.assert_close(out, PLAIN(data, far_apart), rtol=0, atol=0)
    assert torch.isfinite(out).all()


def test_cuda_graph_modes_turn_padding_on():
    net = BindingNet(hidden=8, num_layers=1)
    assert not net.pad_edges
    assert net.compile_message_passing(mode="reduce-overhead").pad_edges
    assert not (net.ligand.cache_weights or net.complex.cache_weights)  # replays would copy them in
    assert not BindingNet(hidden=8, num_layers=1).compile_message_passing().pad_edges

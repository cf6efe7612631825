"""interaction_stack: L FrameInteraction layers run as one stack equal the layers applied one by
one with the plain concatenation formula (tests/test_layers_factoring.py), in float64, for every
input form: one node set or a source node set, constant extra inputs, scalarized source vectors,
and an edge map folded into the first linear maps (many edges) or applied first (few edges)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from _layers_records import one_thread  # noqa: F401 (autouse fixture)
from test_layers_factoring import reference_interaction
from neuralmd.frames import gram_schmidt, scalarize
from neuralmd.layers import EdgeGeometry, FrameInteraction
from neuralmd.layers._interaction import interaction_stack

HIDDEN, LAYERS = 8, 3


def _layers(num_extra: int, seed: int) -> list[FrameInteraction]:
    torch.manual_seed(seed)
    layers = [FrameInteraction(HIDDEN, num_extra=num_extra, norm=4.0).double() for _ in range(LAYERS)]
    with torch.no_grad():  # default biases are small; make every term count
        for layer in layers:
            for p in layer.parameters():
                p.add_(0.3 * torch.randn_like(p))
    return layers


def _graph(num_nodes: int, num_sources: int, num_edges: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, num_sources, (num_edges,), generator=g)
    dst = torch.sort(torch.randint(0, num_nodes, (num_edges,), generator=g)).values
    rel = torch.randn(num_edges, 3, dtype=torch.float64, generator=g)
    frames = gram_schmidt(rel, torch.randn(num_edges, 3, dtype=torch.float64, generator=g))
    geometry = EdgeGeometry(rel, frames, torch.rand(num_edges, dtype=torch.float64, generator=g))
    h = torch.randn(num_nodes, HIDDEN, dtype=torch.float64, generator=g)
    vec = torch.randn(num_nodes, 3, dtype=torch.float64, generator=g)
    return torch.stack((src, dst)), geometry, h, vec, g


@pytest.mark.parametrize("num_edges", [10, 4 * LAYERS * HIDDEN])  # below and above L d: map applied / folded
@pytest.mark.parametrize("form", ["one node set", "source nodes", "extra", "source vectors"])
def test_stack_equals_the_layers_one_by_one(form, num_edges):
    num_extra = {"extra": 2, "source vectors": 3}.get(form, 0)
    layers = _layers(num_extra, seed=num_edges)
    num_sources = 5 if form == "source nodes" else 7
    edge_index, geometry, h, vec, g = _graph(7, num_sources, num_edges, seed=num_edges + len(form))
    source = torch.randn(num_sources, HIDDEN, dtype=torch.float64, generator=g) if form == "source nodes" else None
    extra = torch.randn(num_edges, 2, dtype=torch.float64, generator=g) if form == "extra" else None
    edge_map = nn.Linear(6, HIDDEN).double()
    edge_input = torch.randn(num_edges, 6, dtype=torch.float64, generator=g)

    out = interaction_stack(layers, h, vec, edge_index, edge_input, geometry, source=source, extra=extra,
                            source_vectors=form == "source vectors", edge_map=edge_map)
    edge_attr = edge_map(edge_input)
    h_ref, vec_ref = h, vec
    for layer in layers:
        layer_extra = scalarize(vec_ref[edge_index[0]], geometry.frames) if form == "source vectors" else extra
        h_ref, vec_ref = reference_interaction(layer, h_ref, vec_ref, edge_index, edge_attr, geometry, source=source,
                                               extra=layer_extra)
    torch.testing.assert_close(out[0], h_ref, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(out[1], vec_ref, atol=1e-12, rtol=1e-12)
    with torch.no_grad():  # inference gathers differently (embedding_bag rather than index_select)
        out = interaction_stack(layers, h, vec, edge_index, edge_input, geometry, source=source, extra=extra,
                                source_vectors=form == "source vectors", edge_map=edge_map)
    torch.testing.assert_close(out[0], h_ref, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(out[1], vec_ref, atol=1e-12, rtol=1e-12)


def test_one_layer_is_the_layer_and_gradients_agree():
    layers = _layers(0, seed=5)
    edge_index, geometry, h, vec, g = _graph(6, 6, 30, seed=5)
    h.requires_grad_()
    edge_attr = torch.randn(30, HIDDEN, dtype=torch.float64, generator=g)
    out = layers[0](h, vec, edge_index, edge_attr, geometry)
    ref = reference_interaction(layers[0], h, vec, edge_index, edge_attr, geometry)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    weight = torch.randn_like(out[0])
    grads = torch.autograd.grad((weight * out[0]).sum() + out[1].sum(), [h, *layers[0].parameters()])
    grads_ref = torch.autograd.grad((weight * ref[0]).sum() + ref[1].sum(), [h, *layers[0].parameters()],
                                    allow_unused=True)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, torch.zeros_like(a) if b is None else b, atol=1e-11, rtol=1e-11)


def test_wrong_extra_width_and_mixed_norms_are_clear_errors():
    layers = _layers(2, seed=1)
    edge_index, geometry, h, vec, _ = _graph(5, 5, 12, seed=1)
    edge_attr = torch.randn(12, HIDDEN, dtype=torch.float64)
    with pytest.raises(ValueError, match="2 extra edge inputs, got none"):
        interaction_stack(layers, h, vec, edge_index, edge_attr, geometry)
    layers[1].norm = 3.0
    with pytest.raises(ValueError, match="one norm"):
        interaction_stack(layers, h, vec, edge_index, edge_attr, geometry,
                          extra=torch.zeros(12, 2, dtype=torch.float64))

"""Pure-torch radius search: exact against brute force, batch-aware, bounded, fast."""
from __future__ import annotations

import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import neuralmd.layers._neighbors as nb
from _layers_records import one_thread  # noqa: F401 (autouse fixture)
from neuralmd.layers import radius, radius_graph


def brute_graph(pos, r, batch, loop=False):
    near = (torch.cdist(pos, pos) <= r) & (batch[:, None] == batch[None, :])
    if not loop:
        near.fill_diagonal_(False)
    i, j = torch.nonzero(near, as_tuple=True)
    return torch.stack((j, i))  # nonzero is row-major: sorted by (i, j)


def brute_bipartite(x, y, r, bx, by):
    near = (torch.cdist(y, x) <= r) & (by[:, None] == bx[None, :])
    return torch.stack(torch.nonzero(near, as_tuple=True))


NAMES = ("DENSE_MAX_PAIRS", "DENSE_ONE_COMPLEX_MAX_PAIRS", "CELL_LIST_MIN_PAIRS", "PAIR_BUDGET",
         "_CELL_TABLE_PER_QUERY")
DEFAULTS = tuple(getattr(nb, name) for name in NAMES)
#: Settings of NAMES that force each search path, with a tiny budget so that chunking is exercised:
#: one dense test, the dense test only for one complex, ranges over all pairs, the cell list with
#: its cells counted in a table and found by binary search.
PATHS = {"dense": (1 << 40, 0, 1 << 40, 1 << 20, 8), "dense for one complex": (0, 1 << 40, 1 << 40, 97, 8),
         "all-pairs": (0, 0, 1 << 40, 97, 8), "cells": (0, 0, 0, 53, 1 << 20), "cells, searched": (0, 0, 0, 53, 0)}


def use_path(setting: tuple) -> None:
    for name, value in zip(NAMES, setting):
        setattr(nb, name, value)


def cloud(seed, n, num_batches, scale):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(n, 3, dtype=torch.float64, generator=g) * scale
    batch = torch.randint(num_batches, (n,), generator=g)
    return pos, batch


@pytest.fixture(params=list(PATHS))
def path(request, monkeypatch):
    """Run a test through every search path (PATHS)."""
    for name, value in zip(NAMES, PATHS[request.param]):
        monkeypatch.setattr(nb, name, value)
    return request.param


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 120), num_batches=st.integers(1, 4), r=st.floats(0.5, 6.0))
def test_radius_graph_matches_brute_force(seed, n, num_batches, r):
    pos, batch = cloud(seed, n, num_batches, 4.0)
    for setting in PATHS.values():
        use_path(setting)
        try:
            assert torch.equal(radius_graph(pos, r, batch), brute_graph(pos, r, batch))
            assert torch.equal(radius_graph(pos, r, batch, loop=True), brute_graph(pos, r, batch, loop=True))
        finally:
            use_path(DEFAULTS)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), nx=st.integers(0, 80), ny=st.integers(0, 40), num_batches=st.integers(1, 3))
def test_radius_matches_brute_force(seed, nx, ny, num_batches):
    x, bx = cloud(seed, nx, num_batches, 5.0)
    y, by = cloud(seed + 1, ny, num_batches, 5.0)
    for setting in PATHS.values():
        use_path(setting)
        try:
            assert torch.equal(radius(x, y, 3.0, bx, by), brute_bipartite(x, y, 3.0, bx, by))
        finally:
            use_path(DEFAULTS)


def test_no_edge_joins_two_complexes(path):
    pos, _ = cloud(0, 30, 1, 2.0)
    stacked = torch.cat((pos, pos, pos))  # three identical complexes on top of each other
    batch = torch.arange(3).repeat_interleave(30)
    edges = radius_graph(stacked, 3.0, batch)
    assert torch.equal(batch[edges[0]], batch[edges[1]])
    single = radius_graph(pos, 3.0)
    assert edges.shape[1] == 3 * single.shape[1]
    pairs = radius(stacked, stacked, 3.0, batch, batch)
    assert torch.equal(batch[pairs[0]], batch[pairs[1]])


def test_max_num_neighbors_keeps_the_nearest(path):
    pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0], [0, 0, -0.5]], dtype=torch.float64)
    edges = radius_graph(pos, 5.0, max_num_neighbors=2)
    into_0 = edges[0, edges[1] == 0].tolist()
    assert into_0 == [1, 4]
    assert torch.bincount(edges[1]).max() == 2
    query = radius(pos, pos[:1], 5.0, max_num_neighbors=3)
    assert query[1].tolist() == [0, 1, 4]


def test_edge_cases_and_bad_input():
    empty = torch.zeros(0, 3)
    assert radius_graph(empty, 1.0).shape == (2, 0)
    assert radius(empty, torch.zeros(2, 3), 1.0).shape == (2, 0)
    assert radius_graph(torch.zeros(1, 3), 1.0).shape == (2, 0)
    coincident = radius_graph(torch.zeros(3, 3), 1.0)  # three atoms on one point: all pairs, no loop
    assert coincident.shape == (2, 6)
    far = torch.tensor([[0.0, 0, 0], [1e7, -1e7, 3e6]])  # huge extent: cells grow, keys cannot overflow
    assert radius_graph(far, 1.0).shape == (2, 0)
    nb_pos = torch.tensor([[0.0, 0, 0], [float("nan"), 0, 0]])
    with pytest.raises(ValueError, match="NaN"):
        radius_graph(nb_pos, 1.0)
    with pytest.raises(ValueError, match="shape"):
        radius_graph(torch.zeros(4, 2), 1.0)
    with pytest.raises(ValueError, match="positive"):
        radius(torch.zeros(2, 3), torch.zeros(2, 3), 0.0)
    with pytest.raises(ValueError, match="batch"):
        radius_graph(torch.zeros(4, 3), 1.0, batch=torch.zeros(3, dtype=torch.long))


def test_chunks_never_exceed_the_budget(monkeypatch):
    monkeypatch.setattr(nb, "PAIR_BUDGET", 100)
    counts = torch.tensor([30, 30, 30, 30, 250, 5])  # one point alone exceeds the budget
    point = torch.arange(6)
    start = torch.zeros(6, dtype=torch.long)
    chunks = list(nb._expand(point, start, counts, torch.arange(300)))
    sizes = [len(i) for i, _ in chunks]
    assert sum(sizes) == int(counts.sum())
    assert all(s <= 100 for s in sizes if s != 250)
    assert torch.equal(torch.cat([i for i, _ in chunks]), torch.repeat_interleave(point, counts))


def test_large_protein_search_is_fast_and_sparse():
    """200 ligand atoms x 5,000 residues (15,000 backbone atoms) in a protein-sized box."""
    g = torch.Generator().manual_seed(0)
    side = (5000 * 130.0) ** (1 / 3)  # ~130 Å^3 per residue, as in folded proteins
    ca = torch.rand(5000, 3, generator=g) * side
    backbone = (ca.unsqueeze(1) + torch.randn(5000, 3, 3, generator=g)).reshape(-1, 3)
    ligand = side / 2 + 3.0 * torch.randn(200, 3, generator=g)
    start = time.perf_counter()
    pairs = radius(ca, ligand, 5.0)
    graph = radius_graph(backbone, 5.0)
    elapsed = time.perf_counter() - start
    assert pairs.shape[1] > 0 and graph.shape[1] < 60 * backbone.shape[0]
    assert elapsed < 10.0, f"{elapsed:.2f} s"  # ~0.3 s unloaded; generous for shared CI machines


WANDER_STEPS = 60


def _wander(start, scale, generator):
    """WANDER_STEPS positions of a Gaussian random walk from ``start``, ``scale`` Å per coordinate."""
    pos = start
    for _ in range(WANDER_STEPS):
        pos = pos + scale * torch.randn(pos.shape, generator=generator, dtype=pos.dtype)
        yield pos


@pytest.mark.parametrize("seed", [0, 1])
def test_pair_list_gives_the_searchs_pairs_along_a_random_walk(seed):
    # Ligand atoms of three complexes wander among fixed C-alphas; every call must equal a fresh
    # search (pairs and order), while the list searches only when an atom has left the skin.
    g = torch.Generator().manual_seed(seed)
    ca = torch.rand(90, 3, generator=g, dtype=torch.float64) * 20
    batch_x = torch.arange(3).repeat_interleave(30)
    batch_y = torch.arange(3).repeat_interleave(8)
    pairs = nb.PairList(5.0, skin=1.0)
    for y in _wander(torch.rand(24, 3, generator=g, dtype=torch.float64) * 20, 0.15, g):
        assert torch.equal(pairs(ca, y, batch_x, batch_y), nb._radius(ca, y, 5.0, batch_x, batch_y))
    assert 1 < pairs.builds < WANDER_STEPS / 3


def test_pair_list_searches_again_for_other_points_or_batches():
    ca = torch.tensor([[0.0, 0, 0], [3.0, 0, 0]])
    y = torch.tensor([[1.0, 0, 0], [2.0, 0, 0]])
    pairs = nb.PairList(1.5, skin=0.5)
    one, two = torch.zeros(2, dtype=torch.long), torch.tensor([0, 1])
    assert pairs(ca, y, one, one).tolist() == [[0, 1], [0, 1]]
    assert pairs(ca, y, one, torch.tensor([0, 1])).tolist() == [[0], [0]]  # atom 1 now of complex 1
    assert pairs(ca.clone(), y, two, two).tolist() == [[0, 1], [0, 1]]  # other points
    assert pairs.builds == 3
    assert pairs(ca, y[:0], one, one[:0]).shape == (2, 0)
    with pytest.raises(ValueError, match="skin > 0"):
        nb.PairList(5.0, skin=0.0)


@pytest.mark.parametrize("seed", [0, 1])
def test_graph_list_gives_the_searchs_graph_along_a_random_walk(seed):
    # Three ligands' atoms wander (both ends of an edge move: half the skin each); every call must
    # equal a fresh radius graph, edges and order.
    g = torch.Generator().manual_seed(seed)
    batch = torch.arange(3).repeat_interleave(12)
    graph = nb.GraphList(4.0, skin=1.0)
    for pos in _wander(torch.rand(36, 3, generator=g, dtype=torch.float64) * 8, 0.1, g):
        assert torch.equal(graph(pos, batch), nb._radius_graph(pos, 4.0, batch))
    assert 1 < graph.builds < WANDER_STEPS / 2
    assert graph(pos[:0], batch[:0]).shape == (2, 0)


def test_a_ligand_encoder_refuses_a_graph_list_of_another_cutoff():
    from neuralmd.layers import BindingNetLigand

    net = BindingNetLigand(hidden=8, num_layers=1, cutoff=5.0)
    with pytest.raises(ValueError, match="r = 4.0 Å, this encoder's cutoff is 5.0 Å"):
        net(torch.tensor([6, 8]), torch.zeros(2, 3), graph=nb.GraphList(4.0, skin=1.0))

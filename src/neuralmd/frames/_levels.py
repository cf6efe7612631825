"""The three levels of vector frames of BindingNet (paper Eqs. 3-5).

Every frame here follows one convention: ``gram_schmidt(a, b)`` of two *true* vectors, so ``e1``
and ``e2`` are vectors and ``e3`` is the pseudo-vector. The paper writes Eqs. (3) and (5) with the
cross product ``x_i x x_j`` as the second axis; our ``e3`` is exactly that direction, and our ``e2``
is ``e3 x e1``, so the frames span the same axes while all three levels share one handedness rule.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from torch_geometric.utils import scatter

from ._basis import DEGENERATE_EPS, gram_schmidt

#: Largest C-alpha to C-alpha distance (Å) inside one chain segment. Trans peptides give ~3.8 Å,
#: cis ~2.9 Å; anything longer is a chain break (missing residues) and starts a new segment.
MAX_CA_GAP = 4.2


def edge_frames(pos: Tensor, edge_index: Tensor, batch: Optional[Tensor] = None,
                eps: float = DEGENERATE_EPS) -> Tensor:
    """Atom-level ligand frames, one per edge (Eq. 3).

    For an edge ``j -> i`` (``edge_index[:, e] = (j, i)``, PyG's source-to-target order) the frame is
    ``gram_schmidt(x_i - x_j, r_i)`` with ``r = x - centroid`` taken relative to the centroid of the
    complex's own ligand. Its ``e3`` is the direction of ``r_i x r_j``: the paper's cross product, but
    of centred positions, so the frame is translation invariant by construction (the cross product
    of raw coordinates is not).

    Args:
        pos: (N, 3) ligand atom positions (Å).
        edge_index: (2, E) long, edges ``j -> i``.
        batch: (N,) long complex index of every atom, or ``None`` for one complex.
        eps: degeneracy threshold of :func:`gram_schmidt`.

    Returns:
        (E, 3, 3) frames with rows ``e1, e2, e3``.
    """
    if batch is None:
        centred = pos - pos.mean(dim=0, keepdim=True)
    else:  # the mean position of every complex, gathered back onto its atoms
        num = int(batch.max()) + 1 if batch.numel() else 0
        count = torch.bincount(batch, minlength=num).clamp_min(1).unsqueeze(-1).to(pos.dtype)
        centred = pos - (pos.new_zeros(num, 3).index_add_(0, batch, pos) / count).index_select(0, batch)
    src, dst = edge_index
    return gram_schmidt(pos.index_select(0, dst) - pos.index_select(0, src), centred.index_select(0, dst), eps=eps)


def backbone_frames(n: Tensor, ca: Tensor, c: Tensor, eps: float = DEGENERATE_EPS) -> Tensor:
    """Backbone-level protein frames, one per residue (Eq. 4).

    ``gram_schmidt(x_N - x_CA, x_CA - x_C)``: translation invariant, rotation equivariant.

    Args:
        n, ca, c: (N_r, 3) positions of the backbone N, C-alpha and C atoms (Å).

    Returns:
        (N_r, 3, 3) frames with rows ``e1, e2, e3``.
    """
    return gram_schmidt(n - ca, ca - c, eps=eps)


def chain_segments(ca: Tensor, chain: Tensor, batch: Optional[Tensor] = None,
                   max_gap: float = MAX_CA_GAP) -> Tensor:
    """Index of the contiguous chain segment of every residue.

    A new segment starts at the first residue, wherever the chain id or the complex (``batch``)
    changes, and wherever consecutive C-alphas are farther apart than ``max_gap`` Å (a break).

    Args:
        ca: (N_r, 3) C-alpha positions. chain: (N_r,) long. batch: (N_r,) long or ``None``.

    Returns:
        (N_r,) long segment ids, 0, 1, 2, ... in order.
    """
    starts = torch.ones(ca.shape[0], dtype=torch.bool, device=ca.device)
    if ca.shape[0] > 1:
        gap = (ca[1:] - ca[:-1]).norm(dim=-1)
        new = (chain[1:] != chain[:-1]) | (gap > max_gap)
        if batch is not None:
            new = new | (batch[1:] != batch[:-1])
        starts[1:] = new
    return torch.cumsum(starts.long(), dim=0) - 1


def residue_frames(
    ca: Tensor,
    chain: Tensor,
    batch: Optional[Tensor] = None,
    fallback: Optional[Tensor] = None,
    max_gap: float = MAX_CA_GAP,
    eps: float = DEGENERATE_EPS,
) -> Tensor:
    """Residue-level frames from consecutive C-alphas of the same chain (Eq. 5).

    Residue ``i`` with neighbours ``i-1`` and ``i+1`` in its segment gets
    ``gram_schmidt(x_i - x_{i+1}, x_i - x_{i-1})``; its ``e3`` is the paper's cross product
    ``x_i x x_{i+1}`` measured from ``x_{i-1}``, hence translation invariant. The first and last
    residue of a segment take the frame of their inner neighbour. Segments never span two chains,
    a chain break (see :func:`chain_segments`) or two complexes of a batch.

    Segments of one or two residues have no plane to define an equivariant frame: they take
    ``fallback`` (e.g. :func:`backbone_frames`) when given, otherwise a defined but non-equivariant
    frame from :func:`gram_schmidt`'s degenerate branch.

    Args:
        ca: (N_r, 3) C-alpha positions (Å).
        chain: (N_r,) long chain id of each residue.
        batch: (N_r,) long complex index, or ``None``.
        fallback: optional (N_r, 3, 3) frames for residues in segments shorter than three.

    Returns:
        (N_r, 3, 3) frames with rows ``e1, e2, e3``.
    """
    num = ca.shape[0]
    if chain.shape != (num,):
        raise ValueError(f"chain must have shape ({num},), got {tuple(chain.shape)}")
    segment = chain_segments(ca, chain, batch, max_gap)
    index = torch.arange(num, device=ca.device)
    start = scatter(index, segment, dim=0, reduce="min")[segment]
    end = scatter(index, segment, dim=0, reduce="max")[segment]
    long_enough = (end - start) >= 2
    centre = torch.minimum(torch.maximum(index, start + 1), end - 1)
    centre = torch.where(long_enough, centre, index)
    # Clamping to the segment keeps short segments from reaching into a neighbouring chain.
    nxt = torch.minimum(centre + 1, end)
    prv = torch.maximum(centre - 1, start)
    frames = gram_schmidt(ca[centre] - ca[nxt], ca[centre] - ca[prv], eps=eps)
    if fallback is not None:
        frames = torch.where(long_enough[:, None, None], frames, fallback)
    return frames

"""Building blocks shared by the BindingNet modules: invariant MLPs, a continuous-filter neighbour
embedding that also builds equivariant vector features, and the frame-based interaction layer.

Equivariance rule kept by every block here: vectors are only multiplied by invariant scalars,
summed, or produced by ``vectorize(invariants, frame)``; MLPs only ever see invariants.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from ..frames import scalarize, vectorize
from ._radial import RadialBasis, safe_norm

#: Edges processed at once in :class:`NeighborEmbedding` (bounds memory on large proteins).
EDGE_CHUNK = 1 << 15


class MLP(nn.Sequential):
    """``Linear -> SiLU -> Linear``; for invariant features only. ``(..., d_in) -> (..., d_out)``."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int) -> None:
        super().__init__(nn.Linear(d_in, d_hidden), nn.SiLU(), nn.Linear(d_hidden, d_out))


def aggregate(values: Tensor, index: Tensor, num: int, norm: float) -> Tensor:
    """Sum ``values`` (E, ...) into ``num`` nodes by ``index`` and divide by a fixed ``norm``.

    The paper's ``Agg`` is a mean; a mean over a hard cutoff jumps whenever an atom crosses it. A
    sum of envelope-weighted messages divided by a typical neighbour count is continuous, and for a
    node with no neighbours it is exactly zero (never a division by zero).
    """
    return scatter(values, index, dim=0, dim_size=num, reduce="sum") / norm


class _WeightedRowSum(torch.autograd.Function):
    """``out[e] = sum_q weights[e, q] table[index[e, q]]`` by ``F.embedding_bag``, which never builds
    the (E, Q, d) gathered rows: on a batch of 32 ligands that tensor is ~60 MB, and allocating and
    filling it cost 20 times more than the weighted sum. Its first-order gradients are the native
    ones; under ``create_graph`` (forces of an energy model that are trained, VerletMD) the backward
    uses plain differentiable tensor ops, because embedding_bag has no second derivative."""

    @staticmethod
    def forward(ctx, table: Tensor, index: Tensor, weights: Tensor) -> Tensor:
        ctx.save_for_backward(table, index, weights)
        return F.embedding_bag(index, table, mode="sum", per_sample_weights=weights)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Optional[Tensor], None, Optional[Tensor]]:
        table, index, weights = ctx.saved_tensors
        if torch.is_grad_enabled():  # create_graph: every op below is differentiable again
            grad_table = table.new_zeros(table.shape).index_add(
                0, index.flatten(), (weights.unsqueeze(-1) * grad.unsqueeze(1)).flatten(0, 1))
            grad_weights = (table[index] * grad.unsqueeze(1)).sum(-1)
            return grad_table, None, grad_weights
        with torch.enable_grad():  # recompute the cheap forward and use embedding_bag's own backward
            leaves = table.detach().requires_grad_(), weights.detach().requires_grad_()
            out = F.embedding_bag(index, leaves[0], mode="sum", per_sample_weights=leaves[1])
            grad_table, grad_weights = torch.autograd.grad(out, leaves, grad)
        return grad_table, None, grad_weights


def weighted_row_sum(table: Tensor, index: Tensor, weights: Tensor) -> Tensor:
    """``(weights.unsqueeze(-1) * table[index]).sum(1)`` without the gathered rows.

    Shapes: ``table`` (R, d), ``index`` (E, Q) long rows of ``table``, ``weights`` (E, Q) -> (E, d).
    """
    if torch.is_grad_enabled() and (table.requires_grad or weights.requires_grad):
        return _WeightedRowSum.apply(table, index, weights)
    return F.embedding_bag(index, table, mode="sum", per_sample_weights=weights)  # no autograd.Function overhead


class NeighborEmbedding(nn.Module):
    """Atom embeddings refined by their neighbours, plus equivariant vector features (Eq. 32).

    With ``w_ij = W rbf(|x_i - x_j|)`` (no bias, so zero at the cutoff) this returns
    ``h_i = z_i + sum_j w1_ij * z_j / norm`` (invariant) and
    ``V_i = sum_j (x_i - x_j) (w2_ij * P z_j) / norm`` (equivariant, channels last): the paper's
    "(x_i - x_j) . z" vector representation. ``P`` projects to ``vector_channels`` channels (fewer
    than ``hidden`` keeps a large protein cheap: V costs E x 3 x channels); edges are processed in
    chunks so no (E, 3, channels) tensor is ever whole.

    Args:
        hidden: width d of ``z``. num_rbf, cutoff: radial basis. norm: fixed divisor of the sums.
        vector_channels: channels of ``V`` (default ``hidden``, no projection).
        smooth: compute ``h`` (when ``False`` the returned ``h`` is ``z`` unchanged).

    Shapes: ``z`` (N, d), ``pos`` (N, 3) Å, ``edge_index`` (2, E) -> ``(N, d)``, ``(N, 3, C)``.
    """

    def __init__(
        self,
        hidden: int,
        num_rbf: int,
        cutoff: float,
        norm: float,
        vector_channels: Optional[int] = None,
        smooth: bool = True,
    ) -> None:
        super().__init__()
        self.channels = hidden if vector_channels is None else int(vector_channels)
        self.smooth = smooth
        self.rbf = RadialBasis(num_rbf, cutoff)
        self.filter = nn.Linear(num_rbf, hidden * smooth + self.channels, bias=False)
        self.project = None if self.channels == hidden else nn.Linear(hidden, self.channels, bias=False)
        self.norm = float(norm)

    def forward(
        self,
        z: Tensor,  # (N, d) invariant node features
        pos: Tensor,  # (N, 3) Å
        edge_index: Tensor,  # (2, E) long, rows j (neighbour), i (centre)
        *,
        rel: Optional[Tensor] = None,  # (E, 3) Å, x_i - x_j, when the caller already has it
        rbf: Optional[Tensor] = None,  # (E, num_rbf) self.rbf(|rel|), likewise (computed once per edge set)
    ) -> tuple[Tensor, Tensor]:
        num, hidden = z.shape
        zv = z if self.project is None else self.project(z)
        smooth = z.new_zeros(num, hidden)
        vectors = z.new_zeros(num, 3, self.channels)
        num_edges = edge_index.shape[1]
        # One chunk needs no loop over range(num_edges): torch.compile(dynamic=True) would have to
        # specialise on the edge count to unroll it, and recompile whenever it changes.
        chunks = [slice(None)] if num_edges <= EDGE_CHUNK else [
            slice(a, a + EDGE_CHUNK) for a in range(0, num_edges, EDGE_CHUNK)]
        for chunk in chunks:
            src, dst = edge_index[:, chunk]
            r_ij = pos[dst] - pos[src] if rel is None else rel[chunk]
            weights = self.filter(self.rbf(safe_norm(r_ij)) if rbf is None else rbf[chunk])
            if self.smooth:
                smooth = smooth.index_add(0, dst, weights[:, :hidden] * z[src])
            message = weights[:, -self.channels :] * zv[src]
            vectors = vectors.index_add(0, dst, r_ij.unsqueeze(-1) * message.unsqueeze(-2))
        return z + smooth / self.norm, vectors / self.norm


class EdgeGeometry(NamedTuple):
    """The geometry of one edge set ``j -> i``, computed once per force evaluation and shared by every
    layer that runs on those edges (a tuple, so it passes through ``torch.compile`` unchanged).

    Attributes:
        rel: (E, 3) Å, ``x_i - x_j`` (equivariant).
        frames: (E, 3, 3) one frame per edge, rows ``e1, e2, e3`` (equivariant rows).
        envelope: (E,) smooth cutoff weight in [0, 1], zero at the cutoff (invariant).
    """

    rel: Tensor
    frames: Tensor
    envelope: Tensor


class FrameInteraction(nn.Module):
    """One equivariant message-passing layer on edges that carry a vector frame (Eqs. 6, 8, 32, 33).

    For edges ``j -> i`` with invariant edge features ``e_ij``, frame ``F_ij``, relative position
    ``r_ij = x_i - x_j`` and cutoff envelope ``w_ij``::

        m_ij   = MLP(e_ij, h_i, g_j, scalarize(vec_i, F_ij), extra_ij)        (invariant)
        h_i   += Linear(sum_j w_ij m_ij / norm)
        vec_i += sum_j w_ij (a_ij vec_i + b_ij r_ij + vectorize(c_ij, F_ij)) / norm

    with ``(a, b, c) = Linear(m_ij)``: vectors are only scaled by invariants, summed, or rebuilt from
    invariants on an equivariant frame, so ``vec`` stays equivariant. ``a_ij vec_i`` is the gate of a
    gated equivariant output; ``c_ij`` lets the layer output directions other than ``vec_i`` and
    ``r_ij``, including the pseudo-vector axis (chirality-aware). The MLP's first linear map is split
    by column blocks (node blocks run per node, summed onto edges by :func:`weighted_row_sum`), and
    its last one is folded into the update and the coefficients, which are linear in ``m``: same
    parameters and function as the plain formula, fewer multiply-adds (docs/design.md).

    Args:
        hidden: width d of ``h``, ``e`` and ``g``.
        num_extra: width of the extra invariant edge input (e.g. scalarized neighbour vectors).
        norm: the fixed divisor of the sums (a typical neighbour count).

    Example (three atoms, the edges 0 -> 1 and 2 -> 1):
        >>> from neuralmd.frames import gram_schmidt
        >>> pos, edge_index = torch.randn(3, 3), torch.tensor([[0, 2], [1, 1]])
        >>> rel = pos[edge_index[1]] - pos[edge_index[0]]
        >>> geometry = EdgeGeometry(rel, gram_schmidt(rel, pos[edge_index[1]]), torch.ones(2))
        >>> layer = FrameInteraction(hidden=8)
        >>> h, vec = layer(torch.randn(3, 8), torch.zeros(3, 3), edge_index, torch.randn(2, 8), geometry)
        >>> h.shape, vec.shape
        (torch.Size([3, 8]), torch.Size([3, 3]))
    """

    def __init__(self, hidden: int, num_extra: int = 0, norm: float = 10.0) -> None:
        super().__init__()
        self.edge_in = nn.Linear(hidden + 3 + num_extra, hidden)
        self.dst_in = nn.Linear(hidden, hidden, bias=False)
        self.src_in = nn.Linear(hidden, hidden, bias=False)
        self.message = nn.Sequential(nn.SiLU(), nn.Linear(hidden, hidden))
        self.update = nn.Linear(hidden, hidden)
        self.vector = nn.Linear(hidden, 5)
        self.norm = float(norm)

    def _node_terms(self, h: Tensor, g: Optional[Tensor], src: Tensor, dst: Tensor) -> Tensor:
        """``dst_in(h)[dst] + src_in(g)[src]``: (E, d), projected per node and gathered onto edges."""
        if g is None:  # one node set: both projections in one matrix product, rows (n, side)
            table = (h @ torch.cat((self.dst_in.weight, self.src_in.weight)).t()).view(2 * h.shape[0], -1)
            index = torch.stack((2 * dst, 2 * src + 1), dim=-1)
        else:
            table = torch.cat((self.dst_in(h), self.src_in(g)))
            index = torch.stack((dst, h.shape[0] + src), dim=-1)
        return weighted_row_sum(table, index, torch.ones(index.shape, dtype=h.dtype, device=h.device))

    def forward(
        self,
        h: Tensor,  # (N, d) invariant features of the receiving nodes i
        vec: Tensor,  # (N, 3) equivariant vector of each receiving node
        edge_index: Tensor,  # (2, E) long: row 0 the sending node j (a row of ``source``), row 1 i
        edge_attr: Tensor,  # (E, d) invariant edge features
        geometry: EdgeGeometry,  # rel (E, 3), frames (E, 3, 3), envelope (E,) of the same edges
        *,
        source: Optional[Tensor] = None,  # (M, d) sending-node features of another node set; default h
        extra: Optional[Tensor] = None,  # (E, num_extra) further invariant edge inputs
    ) -> tuple[Tensor, Tensor]:
        """One message-passing step over ``edge_index``; returns the new ``h`` (N, d) and ``vec`` (N, 3).

        ``source`` makes the layer bipartite (ligand atoms receiving from residues); without it the
        sending nodes are the receiving ones (``h`` indexed by ``edge_index[0]``).
        """
        src, dst = edge_index
        rel, frames, envelope = geometry
        num, hidden = h.shape
        # The first linear map acts on cat(edge_attr, scalarize(vec_i), extra, h_i, g_j): split by
        # column blocks, the node blocks run per node and only the edge blocks per edge, and no
        # (E, d + 3 + extra) concatenation is ever built.
        weight = self.edge_in.weight
        small = scalarize(vec[dst], frames)
        if extra is not None:
            small = torch.cat((small, extra), dim=-1)
        pre = torch.addmm(self.edge_in.bias, edge_attr, weight[:, :hidden].t())
        pre = torch.addmm(pre, small, weight[:, hidden:].t()) + self._node_terms(h, source, src, dst)
        act = F.silu(pre)  # (E, d); self.message is SiLU -> Linear
        # m = W_m act + b_m enters only linear maps (the h update after a sum, and the vector
        # coefficients), so they take act directly: sum_j w m = W_m sum_j w act + b_m sum_j w, and
        # (a, b, c) = (W_v W_m) act + W_v b_m + b_v. No (E, d) x (d, d) product for m.
        w = envelope.unsqueeze(-1)
        out = self.message[1]
        coeff = w * torch.addmm(self.vector.bias + self.vector.weight @ out.bias, act,
                                (self.vector.weight @ out.weight).t())
        # sum_j w a_ij vec_i = vec_i sum_j w a_ij, so the gate needs no gathered vec; b r + F^T c is
        # one batched (1, 4) x (4, 3) product per edge.
        basis = torch.cat((rel.unsqueeze(1), frames), dim=1)  # (E, 4, 3): r_ij, e1, e2, e3
        small = torch.cat((w, coeff[:, :1], torch.bmm(coeff[:, 1:].unsqueeze(1), basis).squeeze(1)), dim=-1)
        summed = act.new_zeros(num, hidden).index_add_(0, dst, w * act)
        summed_small = small.new_zeros(num, 5).index_add_(0, dst, small)  # sum w, sum w a, sum dvec
        m_sum = torch.addmm(summed_small[:, :1] * out.bias, summed, out.weight.t())
        h = h + self.update(m_sum / self.norm)
        return h, vec + (summed_small[:, 2:] + summed_small[:, 1:2] * vec) / self.norm

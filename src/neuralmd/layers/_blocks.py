"""Building blocks shared by the BindingNet modules: invariant MLPs, a continuous-filter neighbour
embedding that also builds equivariant vector features, and the frame-based interaction layer.

Equivariance rule kept by every block here: vectors are only multiplied by invariant scalars,
summed, or produced by ``vectorize(invariants, frame)``; MLPs only ever see invariants.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
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

    def forward(self, z: Tensor, pos: Tensor, edge_index: Tensor) -> tuple[Tensor, Tensor]:
        num, hidden = z.shape
        zv = z if self.project is None else self.project(z)
        smooth = z.new_zeros(num, hidden)
        vectors = z.new_zeros(num, 3, self.channels)
        for a in range(0, edge_index.shape[1], EDGE_CHUNK):
            src, dst = edge_index[:, a : a + EDGE_CHUNK]
            rel = pos[dst] - pos[src]
            weights = self.filter(self.rbf(safe_norm(rel)))
            if self.smooth:
                smooth = smooth.index_add(0, dst, weights[:, :hidden] * z[src])
            message = weights[:, -self.channels :] * zv[src]
            vectors = vectors.index_add(0, dst, rel.unsqueeze(-1) * message.unsqueeze(-2))
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
    ``r_ij``, including the pseudo-vector axis (chirality-aware). The first linear map of the MLP is
    split by input so the node terms are computed per node (or per edge, whichever is fewer).

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

    @staticmethod
    def _gathered(linear: nn.Linear, nodes: Tensor, index: Tensor) -> Tensor:
        # linear(nodes)[index] == linear(nodes[index]): apply it on the smaller side.
        return linear(nodes)[index] if nodes.shape[0] <= index.shape[0] else linear(nodes[index])

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
        g = h if source is None else source
        rel, frames, envelope = geometry
        edge_inputs = [edge_attr, scalarize(vec[dst], frames)] + ([] if extra is None else [extra])
        pre = self.edge_in(torch.cat(edge_inputs, dim=-1))
        pre = pre + self._gathered(self.dst_in, h, dst) + self._gathered(self.src_in, g, src)
        m = self.message(pre)
        w = envelope.unsqueeze(-1)
        h = h + self.update(aggregate(w * m, dst, h.shape[0], self.norm))
        coeff = w * self.vector(m)
        dvec = coeff[:, :1] * vec[dst] + coeff[:, 1:2] * rel + vectorize(coeff[:, 2:], frames)
        return h, vec + aggregate(dvec, dst, h.shape[0], self.norm)

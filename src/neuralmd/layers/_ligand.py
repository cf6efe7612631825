"""BindingNet-Ligand: atom-level frames and equivariant message passing on the ligand (Eqs. 3, 6, 32)."""
from __future__ import annotations

from typing import Any, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..frames import edge_frames
from ._blocks import MLP, NeighborEmbedding, add_radial_block, weighted_row_sum
from ._interaction import EdgeGeometry, FrameInteraction, StackOwner, interaction_stack
from ._ligand_encoder import LigandEncoder
from ._padding import pad_edges
from ._weight_cache import WeightCache
from ._radial import BandedBasis, cosine_cutoff, safe_norm

#: Row of the per-node table of :meth:`BindingNetLigand._edge_mlp_input_layer` for side s, frame
#: axis x and output axis a, relative to 18 n: ``6 x + 3 s + a``, laid out (s, 3 x + a).
_PAIR_ROWS = (6 * torch.arange(3).repeat_interleave(3) + torch.arange(3).repeat(3) + 3 * torch.arange(2)[:, None])


class BindingNetLigand(StackOwner, LigandEncoder):
    """Atom-level ligand module: invariant features and an equivariant vector per atom (Eq. 6/32).

    Pipeline: atom-type embedding refined over neighbours within ``cutoff``; vector features
    ``V_i = sum_j (x_i - x_j) z_j w(r_ij)``; edge invariants ``h_ij = MLP(scalarize(V_i + V_j, F_ij))``
    on the atom-level frame ``F_ij`` of Eq. (3) (:func:`neuralmd.frames.edge_frames`); then
    ``num_layers`` :class:`FrameInteraction` layers updating ``h`` and ``vec``.

    ``vec`` starts at zero as in the paper, or at a given per-atom vector (e.g. a velocity): its
    projections on the frames enter the messages and it is carried through the gated updates, so the
    output rotates with it (the velocity mapping of section 4.3).

    Args:
        hidden, num_layers, cutoff (Å), and the keywords num_rbf, max_z, avg_neighbors: as
            :class:`LigandEncoder` (the interface it shares with :class:`E3nnLigand`).
        vector_channels: channels of the vector features ``V`` (default ``hidden``).

    Example:
        >>> net = BindingNetLigand(hidden=16, num_layers=2)
        >>> h, vec = net(torch.tensor([6, 6, 8, 7]), torch.randn(4, 3))
        >>> h.shape, vec.shape
        (torch.Size([4, 16]), torch.Size([4, 3]))
    """

    def __init__(
        self, hidden: int = 128, num_layers: int = 5, cutoff: float = 5.0, *,
        vector_channels: Optional[int] = None, **options: Any,
    ) -> None:
        super().__init__(hidden, num_layers, cutoff, **options)
        self.neighbors = NeighborEmbedding(hidden, self.num_rbf, cutoff, self.avg_neighbors, vector_channels)
        self.edge_mlp = MLP(6 * self.neighbors.channels + self.num_rbf, hidden, hidden)
        self.layers = nn.ModuleList(
            FrameInteraction(hidden, num_extra=3, norm=self.avg_neighbors) for _ in range(num_layers)
        )
        self._stack_cache = WeightCache()  # the layers' parameter products, kept between no-grad calls
        self._input_cache = WeightCache()  # the edge MLP's per-node weight blocks, likewise
        self._radial_table = WeightCache()  # its radial block as rows, for a banded basis

    def _edge_mlp_input_layer(self, vectors: Tensor, frames: Tensor, rbf: Union[Tensor, BandedBasis],
                              edge_index: Tensor) -> Tensor:
        """``edge_mlp[0](cat(scalarize(cat(V_i, V_j), F_ij).flatten(), rbf_ij))`` (E, d) without the
        (E, 6C) input: its weight is split by column blocks, the V_i and V_j blocks are applied per
        node (``P[n, x, side, a] = W_{a, side} V_n[x]``, one (3 N, C) x (C, 6 d) product), and each
        edge contracts the gathered blocks with its frame, ``sum_{side, a, x} F[a, x] P[n_side, x,
        side, a]``: 18 d multiply-adds per edge instead of 6 C d."""
        src, dst = edge_index
        first = self.edge_mlp[0]
        num, _, channels = vectors.shape
        hidden = first.weight.shape[0]
        # input column a * 2C + side * C + c (side 0: centre i, 1: neighbour j), then the radial basis
        def weight_blocks() -> tuple[Tensor, Tensor]:
            node = first.weight[:, : 6 * channels].view(hidden, 3, 2, channels).permute(3, 2, 1, 0)
            return node.reshape(channels, 6 * hidden), first.weight[:, 6 * channels :].t()

        blocks, rbf_block = self._input_cache.get(lambda: [first.weight], weight_blocks)
        table = vectors.reshape(num * 3, channels) @ blocks
        index = (18 * torch.stack((dst, src), dim=1)).unsqueeze(-1) + _PAIR_ROWS.to(dst.device)  # (E, 2, 9)
        frames_xa = frames.transpose(1, 2).reshape(-1, 9).repeat(1, 2)  # F[a, x] at 3 x + a, both sides
        pair = weighted_row_sum(table.view(num * 18, hidden), index.view(-1, 18), frames_xa)
        return add_radial_block(pair, rbf, rbf_block, first.bias, cache=self._radial_table)

    def encode(
        self, z: Tensor, pos: Tensor, vec: Tensor, edge_index: Tensor, batch: Optional[Tensor]
    ) -> tuple[Tensor, Tensor]:
        """The atom-level frames of Eq. (3) on the radius graph, then :meth:`message_passing`."""
        frames, edge_weight = edge_frames(pos, edge_index, batch), None
        if self.pad_edges and edge_index.shape[1]:
            edge_index, edge_weight, (frames,) = pad_edges(edge_index, frames, dtype=pos.dtype)
        weights = self._stack_weights(bipartite=False, source_vectors=True, num_edges=edge_index.shape[1],
                                      num_nodes=z.shape[0])
        return self.message_passing(z, pos, vec, edge_index, frames, edge_weight=edge_weight, weights=weights)

    def message_passing(self, z: Tensor, pos: Tensor, vec: Tensor, edge_index: Tensor, frames: Tensor, *,
                        edge_weight: Optional[Tensor] = None, weights: Optional[Any] = None) -> tuple[Tensor, Tensor]:
        """Everything after the neighbour search (edge_index (2, E), frames (E, 3, 3), an edge weight
        (E,) that multiplies the cutoff envelope, 0 on padding edges, and the layers' parameter
        products from ``stack_weights``, computed when not given): shapes fixed by the edges and no
        data-dependent control flow, so it compiles as one graph (``BindingNet(compile=True)``)."""
        src, dst = edge_index
        rel = pos.index_select(0, dst) - pos.index_select(0, src)
        r = safe_norm(rel)
        envelope = cosine_cutoff(r, self.cutoff)
        if edge_weight is not None:
            envelope = envelope * edge_weight
        rbf = self.neighbors.rbf.for_linear(r, envelope=envelope)  # once for the neighbour filter and the edge MLP
        h, vectors = self.neighbors(self.embedding(z), pos, edge_index, rel=rel, rbf=rbf)
        hidden_attr = F.silu(self._edge_mlp_input_layer(vectors, frames, rbf, edge_index))  # edge_mlp: Linear, SiLU,
        # and its last Linear goes to the layers (edge_map); every layer's extra input is
        # scalarize(vec_j, F_ij) of the current vectors
        return interaction_stack(self.layers, h, vec, edge_index, hidden_attr, EdgeGeometry(rel, frames, envelope),
                                 source_vectors=True, edge_map=self.edge_mlp[2], weights=weights,
                                 edge_dtype=self.edge_dtype)

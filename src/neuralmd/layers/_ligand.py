"""BindingNet-Ligand: atom-level frames and equivariant message passing on the ligand (Eqs. 3, 6, 32)."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn

from ..frames import edge_frames, scalarize
from ._blocks import MLP, EdgeGeometry, FrameInteraction, NeighborEmbedding, weighted_row_sum
from ._ligand_encoder import LigandEncoder
from ._radial import cosine_cutoff, safe_norm


class BindingNetLigand(LigandEncoder):
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

    def _edge_mlp_input_layer(self, vectors: Tensor, frames: Tensor, rbf: Tensor, edge_index: Tensor) -> Tensor:
        """``edge_mlp[0](cat(scalarize(cat(V_i, V_j), F_ij).flatten(), rbf_ij))`` (E, d) without the
        (E, 6C) input: its weight is split by column blocks, the V_i and V_j blocks are applied per
        node (``P[n, x, a] = W_a V_n[x]``, (N, 3, 3, d)), and each edge contracts the two gathered
        blocks with its frame, ``sum_{a, x} F[a, x] (P_i + P_j)[x, a]``: 9 d multiply-adds per edge
        instead of 6 C d."""
        src, dst = edge_index
        first = self.edge_mlp[0]
        num, _, channels = vectors.shape
        hidden = first.weight.shape[0]
        # input column a * 2C + side * C + c (side 0: centre i, 1: neighbour j), then the radial basis
        blocks = first.weight[:, : 6 * channels].view(hidden, 3, 2, channels)
        rows = vectors.reshape(num * 3, channels)
        centre = rows @ blocks[:, :, 0].permute(2, 1, 0).reshape(channels, 3 * hidden)  # (3 N, 3 d)
        neighbour = rows @ blocks[:, :, 1].permute(2, 1, 0).reshape(channels, 3 * hidden)
        table = torch.cat((centre, neighbour)).view(2 * num * 9, hidden)  # row (side, n, x, a)
        nine = torch.arange(9, device=dst.device)
        index = torch.cat((9 * dst.unsqueeze(-1) + nine, 9 * (num + src.unsqueeze(-1)) + nine), dim=-1)
        frames_xa = frames.transpose(1, 2).reshape(-1, 9)  # F[a, x] at position 3 x + a
        pair = weighted_row_sum(table, index, torch.cat((frames_xa, frames_xa), dim=-1))
        return torch.addmm(first.bias, rbf, first.weight[:, 6 * channels :].t()) + pair

    def encode(
        self, z: Tensor, pos: Tensor, vec: Tensor, edge_index: Tensor, batch: Optional[Tensor]
    ) -> tuple[Tensor, Tensor]:
        """The atom-level frames of Eq. (3) on the radius graph, then :meth:`message_passing`."""
        return self.message_passing(z, pos, vec, edge_index, edge_frames(pos, edge_index, batch))

    def message_passing(self, z: Tensor, pos: Tensor, vec: Tensor, edge_index: Tensor, frames: Tensor) -> tuple[Tensor, Tensor]:
        """Everything after the neighbour search (edge_index (2, E), frames (E, 3, 3)): shapes fixed
        by the edges and no data-dependent control flow, so it compiles as one graph
        (``BindingNet(compile=True)``)."""
        src, dst = edge_index
        rel = pos[dst] - pos[src]
        r = safe_norm(rel)
        rbf = self.neighbors.rbf(r)  # once for the neighbour filter and the edge MLP
        h, vectors = self.neighbors(self.embedding(z), pos, edge_index, rel=rel, rbf=rbf)
        edge_attr = self.edge_mlp[2](self.edge_mlp[1](self._edge_mlp_input_layer(vectors, frames, rbf, edge_index)))
        geometry = EdgeGeometry(rel, frames, cosine_cutoff(r, self.cutoff))
        for layer in self.layers:
            h, vec = layer(h, vec, edge_index, edge_attr, geometry, extra=scalarize(vec[src], frames))
        return h, vec

"""The interface every ligand encoder keeps: its sizes, its input checks and its neighbour search.

``encoder(z, pos, batch=None, vec=None) -> (h, vec)`` with ``h`` (N, hidden) invariant and ``vec``
(N, 3) equivariant. :class:`~neuralmd.layers.BindingNetLigand` (vector frames) and
:class:`~neuralmd.layers.E3nnLigand` (spherical harmonics) implement it, so either can stand where a
model wants a ligand module; their shared options and defaults live here once.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .._format import ATOM_VOCABULARY, check_atoms
from ._neighbors import GraphList, _radius_graph


class LigandEncoder(nn.Module):
    """Base of the ligand encoders: the atom-type embedding, :func:`~neuralmd._format.check_atoms`
    and the radius graph within ``cutoff``; a subclass implements :meth:`encode` on that graph.

    Args:
        hidden: feature width d. num_layers: message-passing layers. cutoff: neighbour radius (Å).
        num_rbf: radial basis size. max_z: number of atom types (atomic numbers < max_z).
        avg_neighbors: fixed divisor of neighbour sums.
    """

    def __init__(
        self, hidden: int = 128, num_layers: int = 5, cutoff: float = 5.0, *,
        num_rbf: int = 32, max_z: int = ATOM_VOCABULARY, avg_neighbors: float = 10.0,
    ) -> None:
        super().__init__()
        self.hidden, self.num_layers, self.cutoff = hidden, num_layers, float(cutoff)
        self.num_rbf, self.max_z, self.avg_neighbors = num_rbf, max_z, avg_neighbors
        self.embedding = nn.Embedding(max_z, hidden)

    def forward(
        self, z: Tensor, pos: Tensor, batch: Optional[Tensor] = None, vec: Optional[Tensor] = None, *,
        graph: Optional[GraphList] = None,
    ) -> tuple[Tensor, Tensor]:
        """z (N,) long atom types, pos (N, 3) Å, batch (N,) long or ``None``, vec (N, 3) or ``None``
        (zero: no input vector); ``graph``: a Verlet list with this encoder's cutoff that the
        caller keeps across calls on the same atoms (a rollout's), instead of a search per call (the
        same graph either way).

        Returns ``h`` (N, hidden) invariant and ``vec`` (N, 3) equivariant (rotates with ``pos`` and
        the input ``vec``, unchanged by translations).
        """
        vec = check_atoms(z, pos, batch, self.max_z, vec)
        graph_batch = torch.zeros(z.shape[0], dtype=torch.long, device=z.device) if batch is None else batch.long()
        if graph is None:
            edge_index = _radius_graph(pos, self.cutoff, graph_batch)  # pos checked above
        elif graph.r != self.cutoff:
            raise ValueError(f"the graph list has r = {graph.r} Å, this encoder's cutoff is {self.cutoff} Å")
        else:
            edge_index = graph(pos, graph_batch)
        return self.encode(z, pos, vec, edge_index, batch)

    def encode(
        self, z: Tensor, pos: Tensor, vec: Tensor, edge_index: Tensor, batch: Optional[Tensor]
    ) -> tuple[Tensor, Tensor]:
        """The encoder proper on checked inputs and the radius graph ``edge_index`` (2, E) (edges
        ``j -> i``) -> ``h`` (N, hidden), ``vec`` (N, 3)."""
        raise NotImplementedError(f"{type(self).__name__} must implement encode")

"""BindingNet-Protein: backbone-level frames and per-residue invariant features (Eqs. 4, 5, 7)."""
from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from .._format import RESIDUE_VOCABULARY, check_backbone
from ..frames import backbone_frames, residue_frames, scalarize
from ._blocks import MLP, NeighborEmbedding
from ._neighbors import PairList, radius_graph


class ProteinEncoding:
    """What the complex module needs from a rigid protein; compute once per rollout.

    Attributes:
        h: (N_r, hidden) invariant residue features (Eq. 7); a lazy encoding computes them on
            first access (prefer :meth:`features` for some residues).
        ca: (N_r, 3) C-alpha positions (Å).
        frames: (N_r, 3, 3) residue-level frames (Eq. 5, backbone frame for short segments).
        batch: (N_r,) long complex index of each residue.
        pair_lists: the rollout's Verlet lists, filled as the encoding is used: the complex
            module's ligand-atom / C-alpha pairs (:class:`~neuralmd.layers._neighbors.PairList`) by
            (cutoff, skin) and BindingNet's ligand graph (``GraphList``) by ("ligand", cutoff,
            skin). State of the rollout the encoding was made for, not part of the encoding's
            value (a copy made by ``to`` or ``detach`` starts without them).

    A lazy encoding (``encode_rows`` given instead of ``h``, what
    ``BindingNetProtein.encode(..., lazy=True)`` and ``BindingNet.encode_protein`` make) holds the
    parameter-free geometry and computes a residue's features only when :meth:`features` first
    asks for it: a ligand meets a pocket of a few dozen residues, and the rest of the protein,
    most of the encoder's work, is never computed. Those features come from the module's weights
    and autograd mode at that moment, so an encoding belongs to one rollout or loss (as
    ``DynamicsModel`` uses it): after an optimiser step, encode again.
    """

    def __init__(self, h: Optional[Tensor], ca: Tensor, frames: Tensor, batch: Tensor, *,
                 encode_rows: Optional[Callable[[Tensor], Tensor]] = None) -> None:
        if (h is None) == (encode_rows is None):
            raise ValueError("ProteinEncoding needs either h or encode_rows (lazy), not both")
        self._h, self._encode_rows = h, encode_rows
        self.ca, self.frames, self.batch = ca, frames, batch
        self.pair_lists: dict[tuple, PairList] = {}
        self._encoded: Optional[Tensor] = None  # a lazy encoding's rows computed so far, in the order computed
        self._slot = None if h is not None else torch.full((ca.shape[0],), -1, dtype=torch.long, device=ca.device)

    def verlet_list(self, key: tuple, make: Callable[[], PairList]) -> PairList:
        """The rollout's Verlet list stored under ``key`` in :attr:`pair_lists`, made by ``make()``
        the first time it is asked for."""
        found = self.pair_lists.get(key)
        if found is None:
            found = self.pair_lists[key] = make()
        return found

    def features(self, rows: Tensor) -> Tensor:
        """(len(rows), hidden): the features of residues ``rows`` (long); a lazy encoding computes
        those it has not computed yet (each residue once) and keeps them."""
        if self._h is not None:
            return self._h.index_select(0, rows)
        slots = self._slot.index_select(0, rows)
        missing = rows[slots < 0]
        if missing.numel() or self._encoded is None:  # (no rows at all: an empty (0, hidden) block)
            missing = torch.unique(missing)
            computed = 0 if self._encoded is None else self._encoded.shape[0]
            new = self._encode_rows(missing)
            self._encoded = new if self._encoded is None else torch.cat((self._encoded, new))
            # out of place: the slot table may have been made in inference mode and be used outside it
            self._slot = self._slot.index_put((missing,), torch.arange(computed, computed + missing.shape[0],
                                                                        device=missing.device))
            slots = self._slot.index_select(0, rows)
        return self._encoded.index_select(0, slots)

    @property
    def num_computed(self) -> int:
        """Residues whose features have been computed (all of them for an encoding that is not lazy)."""
        if self._h is not None:
            return self._h.shape[0]
        return 0 if self._encoded is None else self._encoded.shape[0]

    @property
    def h(self) -> Tensor:
        """(N_r, hidden) every residue's features (a lazy encoding computes the missing ones now)."""
        if self._h is None:
            self._h = self.features(torch.arange(self.ca.shape[0], device=self.ca.device))
            self._encode_rows = self._encoded = self._slot = None
        return self._h

    def to(self, *args: Any, **kwargs: Any) -> "ProteinEncoding":
        """Copy to a device and/or floating dtype, with the arguments of ``Tensor.to``
        (``enc.to("cuda")``, ``enc.to(torch.float64)``, ``enc.to(device=..., dtype=...)``);
        ``batch`` only moves device and keeps its integer dtype. The copy holds every residue's
        features."""
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        return ProteinEncoding(
            h=self.h.to(*args, **kwargs),
            ca=self.ca.to(*args, **kwargs),
            frames=self.frames.to(*args, **kwargs),
            batch=self.batch.to(device=device) if device is not None else self.batch,
        )

    def detach(self) -> "ProteinEncoding":
        """The same encoding cut from the autograd graph (for inference rollouts), every residue's
        features computed."""
        return ProteinEncoding(self.h.detach(), self.ca.detach(), self.frames.detach(), self.batch)


class BindingNetProtein(nn.Module):
    """Backbone-level protein module: one invariant feature vector per residue (Eq. 7).

    The N, CA and C atoms of all residues form a graph within ``cutoff``; a
    :class:`NeighborEmbedding` gives each atom an invariant ``z`` and equivariant vectors ``V``. The
    two backbone bonds are scalarized on the residue's backbone frame (Eq. 4),
    ``h_{N,CA} = MLP(scalarize(V_N + V_CA, F_bb))`` and likewise ``h_{CA,C}``, and
    ``h = type_embedding + (h_{N,CA} + h_{CA,C}) / 2`` (Eq. 7). We add one invariant term the paper
    lacks: the N-CA and C-CA bonds scalarized on the chain-level residue frame (Eq. 5), which tells
    each residue how its backbone is oriented along the chain (phi/psi-like information).

    Args:
        hidden: feature width. cutoff: backbone-atom neighbour radius (Å). num_rbf: radial basis size.
        num_residue_types: size of the residue-type embedding; codes must be below it.
        avg_neighbors: fixed divisor of neighbour sums.
        vector_channels: channels of the backbone atoms' vector features (fewer than ``hidden``
            keeps a protein of thousands of residues fast to encode).
    """

    def __init__(
        self,
        hidden: int = 128,
        cutoff: float = 5.0,
        num_rbf: int = 32,
        num_residue_types: int = RESIDUE_VOCABULARY,
        avg_neighbors: float = 20.0,
        vector_channels: int = 32,
    ) -> None:
        super().__init__()
        self.hidden, self.cutoff, self.num_residue_types = hidden, float(cutoff), num_residue_types
        self.atom_embedding = nn.Embedding(3, hidden)  # N, CA, C
        self.atom_residue_embedding = nn.Embedding(num_residue_types, hidden)
        self.type_embedding = nn.Embedding(num_residue_types, hidden)
        self.neighbors = NeighborEmbedding(hidden, num_rbf, cutoff, avg_neighbors, vector_channels, smooth=False)
        self.bond_mlp = MLP(6 * self.neighbors.channels, hidden, hidden)
        self.chain_mlp = MLP(6, hidden, hidden)

    def encode(
        self, residue_type: Tensor, backbone: Tensor, chain: Tensor, batch: Optional[Tensor] = None, *,
        lazy: bool = False,
    ) -> ProteinEncoding:
        """residue_type (N_r,) long, backbone (N_r, 3, 3) Å rows N/CA/C, chain (N_r,) long, batch
        (N_r,) long or ``None`` -> :class:`ProteinEncoding` with features, C-alphas and frames.
        ``lazy``: only the geometry now, each residue's features when first asked for (the same
        features, to round-off)."""
        check_backbone(residue_type, backbone, chain, batch, self.num_residue_types)
        num = residue_type.shape[0]
        if batch is None:
            batch = torch.zeros(num, dtype=torch.long, device=backbone.device)
        atoms = backbone.reshape(num * 3, 3)
        kind = torch.arange(3, device=backbone.device).repeat(num)
        edge_index = radius_graph(atoms, self.cutoff, batch.repeat_interleave(3))
        n, ca, c = backbone.unbind(dim=1)
        bb = backbone_frames(n, ca, c)
        frames = residue_frames(ca, chain, batch, fallback=bb)
        orientation = torch.cat((scalarize(n - ca, frames), scalarize(c - ca, frames)), dim=-1)

        def residue_features(vectors: Tensor, rows: Optional[Tensor]) -> Tensor:
            """Eq. 7 for residues ``rows`` (None: all) from their atoms' vector features (R, 3, 3, C)."""
            types, frame, orient = residue_type, bb, orientation
            if rows is not None:
                types, frame, orient = (t.index_select(0, rows) for t in (residue_type, bb, orientation))
            bond_n_ca = scalarize(torch.cat((vectors[:, 0], vectors[:, 1]), dim=-1), frame).flatten(1)
            bond_ca_c = scalarize(torch.cat((vectors[:, 1], vectors[:, 2]), dim=-1), frame).flatten(1)
            h = self.type_embedding(types) + 0.5 * (self.bond_mlp(bond_n_ca) + self.bond_mlp(bond_ca_c))
            return h + self.chain_mlp(orient)

        if not lazy:
            z = self.atom_embedding(kind) + self.atom_residue_embedding(residue_type).repeat_interleave(3, dim=0)
            _, vectors = self.neighbors(z, atoms, edge_index)
            # residue, atom (N, CA, C), xyz, channel
            h = residue_features(vectors.view(num, 3, 3, self.neighbors.channels), None)
            return ProteinEncoding(h, ca, frames, batch)
        # the edges into atom a are into[a]:into[a + 1] (the graph is sorted by centre)
        into = torch.searchsorted(edge_index[1], torch.arange(3 * num + 1, device=atoms.device))

        def encode_rows(rows: Tensor) -> Tensor:
            """The features (R, hidden) of residues ``rows`` (sorted, distinct), from the message
            passing into their own N, CA and C atoms: a subgraph of those atoms, their neighbours
            and the edges between, whatever the protein's size."""
            centres = (3 * rows.unsqueeze(-1) + torch.arange(3, device=rows.device)).view(-1)
            start = into.index_select(0, centres)
            count = into.index_select(0, centres + 1) - start
            owner = torch.repeat_interleave(torch.arange(centres.shape[0], device=rows.device), count)
            before = torch.cumsum(count, 0) - count  # edges of the centres before each
            offset = torch.arange(owner.shape[0], device=rows.device) - before.index_select(0, owner)
            sources = edge_index[0].index_select(0, start.index_select(0, owner) + offset)
            nodes, local = torch.unique(torch.cat((centres, sources)), return_inverse=True)
            local_centres = local[: centres.shape[0]]
            edges = torch.stack((local[centres.shape[0]:], local_centres.index_select(0, owner)))
            residue_of_node = torch.div(nodes, 3, rounding_mode="floor")
            z = (self.atom_embedding(kind.index_select(0, nodes))
                 + self.atom_residue_embedding(residue_type.index_select(0, residue_of_node)))
            _, vectors = self.neighbors(z, atoms.index_select(0, nodes), edges)
            vectors = vectors.index_select(0, local_centres).view(rows.shape[0], 3, 3, self.neighbors.channels)
            return residue_features(vectors, rows)

        return ProteinEncoding(None, ca, frames, batch, encode_rows=encode_rows)

    def forward(
        self, residue_type: Tensor, backbone: Tensor, chain: Tensor, batch: Optional[Tensor] = None
    ) -> Tensor:
        """Same inputs as :meth:`encode`; returns only the (N_r, hidden) invariant features."""
        return self.encode(residue_type, backbone, chain, batch).h

"""BindingNet-Complex: residue-level frames on pocket residues and the force output (Eqs. 5, 8, 9, 33)."""
from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..frames import scalarize
from ._blocks import MLP, add_radial_block, weighted_row_sum
from ._interaction import EdgeGeometry, FrameInteraction, StackOwner, interaction_stack
from ._neighbors import PairList, _check_points, _radius
from ._padding import pad_edges, pad_rows, padded_size
from ._protein import ProteinEncoding
from ._radial import RadialBasis, cosine_cutoff, safe_norm
from ._weight_cache import WeightCache


class BindingNetComplex(StackOwner, nn.Module):
    """Protein-ligand interaction module: per-atom forces from ligand features and a protein encoding.

    Pocket pairs are ligand atom ``i`` and residue ``j`` whose C-alpha lies within ``cutoff``. Each
    pair gets the equivariant edge representation ``(h_i + h_j) (x_i - x_j)`` of the paper,
    scalarized on residue ``j``'s frame (Eq. 5) to ``h_ij`` (invariant). ``num_layers``
    :class:`FrameInteraction` layers then add ``vec_i a_ij + (x_i - x_j) b_ij + vectorize(c_ij, F_j)``
    to the ligand vectors (Eq. 8), so the output is ``F_i = vec_i + Agg_j vec_ij`` (Eq. 9). An atom
    with no residue in range keeps its intra-ligand vector: finite, never an error.

    Args:
        hidden: feature width (as the ligand and protein modules). num_layers: interaction layers.
        cutoff: ligand-atom to C-alpha radius (Å). num_rbf: radial basis size.
        avg_neighbors: fixed divisor of the residue sums.
        pair_skin: Å of motion the pocket pairs are kept for (a Verlet list on the protein
            encoding, :class:`~neuralmd.layers._neighbors.PairList`); 0 searches at every call.
            The same pairs either way.
    """

    def __init__(
        self,
        hidden: int = 128,
        num_layers: int = 5,
        cutoff: float = 5.0,
        num_rbf: int = 32,
        avg_neighbors: float = 5.0,
        *,
        pair_skin: float = 1.0,
    ) -> None:
        super().__init__()
        if pair_skin < 0:
            raise ValueError(f"pair_skin must be >= 0 Å (0: no Verlet list), got {pair_skin}")
        self.cutoff = float(cutoff)
        self.pair_skin = float(pair_skin)
        self.rbf = RadialBasis(num_rbf, cutoff)
        self.edge_mlp = MLP(3 * hidden + num_rbf, hidden, hidden)
        self.layers = nn.ModuleList(
            FrameInteraction(hidden, num_extra=0, norm=avg_neighbors) for _ in range(num_layers)
        )
        self._stack_cache = WeightCache()  # the layers' parameter products, kept between no-grad calls
        self._input_cache = WeightCache()  # the edge MLP's per-node weight blocks, likewise
        self._radial_table = WeightCache()  # its radial block as rows, for a banded basis

    def _edge_mlp_input_layer(
        self, h_lig: Tensor, h_res: Tensor, rel: Tensor, frames: Tensor, r: Tensor, envelope: Tensor, atom: Tensor,
        res: Tensor,
    ) -> Tensor:
        """``edge_mlp[0](cat(((h_i + h_j) scalarize(r_ij, F_j)).flatten(), rbf_ij))`` (E, d) without the
        (E, 3 d) outer product: with the weight split by column blocks ``W_a`` (one per frame axis a),
        it is ``sum_a s_a (W_a h_i + W_a h_j)``, where ``W_a h`` runs once per atom and per pocket
        residue and ``s = scalarize(r_ij, F_j)``."""
        first = self.edge_mlp[0]
        hidden = h_lig.shape[1]
        def weight_blocks() -> tuple[Tensor, Tensor]:
            node = first.weight[:, : 3 * hidden].view(-1, 3, hidden).permute(2, 1, 0).reshape(hidden, -1)
            return node, first.weight[:, 3 * hidden :].t()

        blocks, rbf_block = self._input_cache.get(lambda: [first.weight], weight_blocks)
        node = torch.cat((h_lig, h_res)) @ blocks  # (N_l + N_pocket, 3 d): W_a h for a = 0, 1, 2
        three = torch.arange(3, device=atom.device)
        index = torch.cat((3 * atom.unsqueeze(-1) + three, 3 * (h_lig.shape[0] + res.unsqueeze(-1)) + three), dim=-1)
        s = scalarize(rel, frames)
        pair = weighted_row_sum(node.view(-1, first.weight.shape[0]), index, torch.cat((s, s), dim=-1))
        return add_radial_block(pair, self.rbf.for_linear(r, envelope=envelope), rbf_block, first.bias,
                                cache=self._radial_table)

    def interact(
        self,
        h_lig: Tensor,  # (N_l, hidden) invariant ligand features
        vec_lig: Tensor,  # (N_l, 3) equivariant ligand vectors
        pos_lig: Tensor,  # (N_l, 3) Å
        lig_batch: Optional[Tensor],  # (N_l,) long complex of each atom, or None for one complex
        protein: ProteinEncoding,  # the encoding of every protein in the batch
        *,
        positions_checked: bool = False,  # the caller has checked pos_lig already (BindingNet: its ligand module)
    ) -> tuple[Tensor, Tensor]:
        """The updated invariant features (N_l, hidden), used by energy heads, and the equivariant
        vectors (N_l, 3) that :meth:`forward` returns as forces."""
        if not positions_checked:  # (a read to the host; the encoding's C-alphas were checked when it was made)
            _check_points(pos_lig, "pos_lig")
        if lig_batch is None:
            lig_batch = torch.zeros(pos_lig.shape[0], dtype=torch.long, device=pos_lig.device)
        atom, res = self._pocket_pairs(protein, pos_lig, lig_batch.long())
        # Only pocket residues (those with a pair) are read: every per-residue projection below runs
        # on them, not on all N_r residues of a protein encoded once.
        pocket, res = torch.unique(res, return_inverse=True)
        edge_index, edge_weight = torch.stack((res, atom)), None
        if self.pad_edges and pocket.shape[0]:  # a few fixed shapes (CUDA graphs): repeat a residue and an edge
            pocket = pad_rows(pocket, padded_size(pocket.shape[0]))
            edge_index, edge_weight, _ = pad_edges(edge_index, dtype=pos_lig.dtype)
        # a lazy encoding computes the features of pocket residues only, each the first time it is met
        h_res = protein.features(pocket)
        ca, res_frames = protein.ca.index_select(0, pocket), protein.frames.index_select(0, pocket)
        weights = self._stack_weights(bipartite=True, source_vectors=False, num_edges=edge_index.shape[1],
                                      num_nodes=h_lig.shape[0])
        return self.message_passing(h_lig, vec_lig, pos_lig, h_res=h_res, ca=ca, res_frames=res_frames,
                                    edge_index=edge_index, edge_weight=edge_weight, weights=weights)

    def _pocket_pairs(self, protein: ProteinEncoding, pos_lig: Tensor, lig_batch: Tensor) -> Tensor:
        """(2, E) ligand-atom / residue pairs within the cutoff: the search itself, or, with a
        ``pair_skin``, the encoding's Verlet list for this cutoff (the same pairs, searched once per
        skin's worth of motion)."""
        if not self.pair_skin:
            return _radius(protein.ca, pos_lig, self.cutoff, protein.batch, lig_batch)
        pairs = protein.verlet_list((self.cutoff, self.pair_skin), lambda: PairList(self.cutoff, skin=self.pair_skin))
        return pairs(protein.ca, pos_lig, protein.batch, lig_batch)

    def message_passing(
        self,
        h_lig: Tensor,  # (N_l, d) invariant ligand features
        vec_lig: Tensor,  # (N_l, 3) equivariant ligand vectors
        pos_lig: Tensor,  # (N_l, 3) Å
        *,
        h_res: Tensor,  # (M, d) features of the M pocket residues
        ca: Tensor,  # (M, 3) their C-alphas, Å
        res_frames: Tensor,  # (M, 3, 3) their residue frames
        edge_index: Tensor,  # (2, E) long: pocket residue j -> ligand atom i
        edge_weight: Optional[Tensor] = None,  # (E,) multiplies the cutoff envelope: 0 on padding edges
        weights: Optional[Any] = None,  # the layers' parameter products (stack_weights), computed when None
    ) -> tuple[Tensor, Tensor]:
        """Everything after the pair search, with no data-dependent control flow (compiles as one
        graph, ``BindingNet(compile=True)``) -> new ``h`` (N_l, d), ``vec`` (N_l, 3)."""
        res, atom = edge_index
        rel = pos_lig.index_select(0, atom) - ca.index_select(0, res)
        r = safe_norm(rel)
        frames = res_frames.index_select(0, res)
        envelope = cosine_cutoff(r, self.cutoff)
        if edge_weight is not None:
            envelope = envelope * edge_weight
        # edge_mlp is Linear -> SiLU -> Linear; its last Linear goes to the layers (edge_map)
        hidden_attr = F.silu(self._edge_mlp_input_layer(h_lig, h_res, rel, frames, r, envelope, atom, res))
        geometry = EdgeGeometry(rel, frames, envelope)
        return interaction_stack(self.layers, h_lig, vec_lig, edge_index, hidden_attr, geometry, source=h_res,
                                 edge_map=self.edge_mlp[2], weights=weights, edge_dtype=self.edge_dtype)

    def forward(self, h_lig: Tensor, vec_lig: Tensor, pos_lig: Tensor, lig_batch: Optional[Tensor],
                protein: ProteinEncoding) -> Tensor:
        """Forces (N_l, 3), equivariant: the vectors of :meth:`interact` (same arguments)."""
        return self.interact(h_lig, vec_lig, pos_lig, lig_batch, protein)[1]

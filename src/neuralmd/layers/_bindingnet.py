"""BindingNet: the ligand, protein and complex modules assembled into a force field (section 4.2)."""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.utils import scatter

from .._format import ATOM_VOCABULARY, RESIDUE_VOCABULARY, complex_name, node_batch
from ._blocks import MLP
from ._complex import BindingNetComplex
from ._interaction import compile_message_passing
from ._ligand import BindingNetLigand
from ._neighbors import GraphList
from ._protein import BindingNetProtein, ProteinEncoding


#: The reduced precisions ``BindingNet(edge_dtype=...)`` accepts, by name.
EDGE_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


class BindingNet(nn.Module):
    """Multi-grained SE(3)-equivariant force field for a ligand in a rigid protein (Eqs. 6-9).

    ``encode_protein(data)`` runs :class:`BindingNetProtein` once per rigid protein; ``forward(data,
    ligand_pos, protein=encoding)`` runs :class:`BindingNetLigand` and :class:`BindingNetComplex`
    and returns one force per ligand atom; ``energy`` returns an invariant energy per complex whose
    negative gradient is an equivariant force (for the VerletMD baseline).

    Args:
        hidden: feature width (Table 5: 128). num_layers: layers of the ligand and complex modules
            (Table 5: 5). cutoff: intra-ligand and backbone radius, Å (Table 5: 5).
        interaction_cutoff: ligand-atom to C-alpha radius, Å (default: ``cutoff``).
        num_rbf: radial basis size. max_z: atom-type vocabulary. num_residue_types: residue-type
            vocabulary (codes 0..num_residue_types-1; 32 = the record format's 24 codes and
            8 spare rows, see ``neuralmd._format``).
        compile: run the ligand's and the complex's message passing (everything after the neighbour
            searches) through ``torch.compile(dynamic=True)``. Off by default: on one CPU thread
            compiling from scratch costs ~60 s CPU and saves ~0.6 ms per evaluation of one ligand
            (pays after ~100,000 evaluations) or 15-27 ms for a batch of 32 (its further ~20 s pay
            after ~1,000); for training it pays after ~1,500 steps (docs/results.md, 2.4). Use it
            for long batched rollouts.
        pad_edges: pad the ligand's edge list, the pocket and its pair list to a few fixed sizes
            (:func:`~neuralmd.layers._padding.padded_size`) with zero-weight repeats: the same forces
            (to round-off) on a handful of shapes, so that code specialised to shapes (CUDA graphs,
            :meth:`compile_message_passing`) is reused across a rollout. Off by default (< 12.5 % or
            < 32 more edges).
        edge_dtype: ``"bfloat16"`` (or ``torch.bfloat16``, ``"float16"``) runs the interaction layers'
            largest products, each layer's (E, d) x (d, d) edge-feature product, in that dtype and the
            rest, geometry included, in the model's: on hardware with fast bfloat16 matmuls (recent
            x86 CPUs with AVX512-BF16 or AMX, GPUs) a cheaper training step. Each such product is
            rounded to bfloat16's ~4e-3; the paper-sized force field's forces moved by at most
            4.9e-5 of 0.23 (docs/results.md, 2.4). ``None`` (default): one dtype throughout.
        pair_skin: the pocket pairs and the ligand's own graph are searched with this margin (Å)
            and kept on the protein encoding (Verlet lists, reused while no ligand atom has moved
            more than the skin, or half of it for the ligand's graph): the same edges, one search
            per skin's worth of motion instead of one per force evaluation; 0 searches every time.

    ``data`` is a ``HeteroData`` record or a ``Batch`` of them with ``ligand.z``,
    ``residue.type``, ``residue.backbone`` (N_r, 3, 3) and ``residue.chain``.

    Example:
        >>> from neuralmd.data import synthetic_trajectories
        >>> data = synthetic_trajectories(1, seed=0, n_snapshots=4)[0]
        >>> net = BindingNet(hidden=16, num_layers=2)
        >>> protein = net.encode_protein(data)                              # once per rigid protein
        >>> forces = net(data, data["ligand"].pos[:, 0], protein=protein)   # (N_l, 3)
        >>> forces.shape == data["ligand"].pos[:, 0].shape
        True
    """

    def __init__(
        self,
        hidden: int = 128,
        num_layers: int = 5,
        cutoff: float = 5.0,
        *,
        interaction_cutoff: Optional[float] = None,
        num_rbf: int = 32,
        max_z: int = ATOM_VOCABULARY,
        num_residue_types: int = RESIDUE_VOCABULARY,
        compile: bool = False,
        pad_edges: bool = False,
        edge_dtype: Optional[str | torch.dtype] = None,
        pair_skin: float = 1.0,
    ) -> None:
        super().__init__()
        interaction_cutoff = cutoff if interaction_cutoff is None else interaction_cutoff
        self.hidden, self.num_layers = hidden, num_layers
        self.cutoff, self.interaction_cutoff = float(cutoff), float(interaction_cutoff)
        self.ligand = BindingNetLigand(hidden, num_layers, cutoff, num_rbf=num_rbf, max_z=max_z)
        self.protein = BindingNetProtein(hidden, cutoff, num_rbf, num_residue_types)
        self.complex = BindingNetComplex(hidden, num_layers, interaction_cutoff, num_rbf, pair_skin=pair_skin)
        self.energy_head = MLP(hidden, hidden, 1)
        self.pad_edges = pad_edges
        self.edge_dtype = edge_dtype
        if compile:
            self.compile_message_passing()

    def compile_message_passing(self, *, mode: Optional[str] = None) -> "BindingNet":
        """Run the ligand's and the complex's message passing through ``torch.compile(dynamic=True,
        mode=mode)`` from now on (what ``compile=True`` does at construction); returns ``self``.
        Instance attributes: the parameters and the state dict stay those of the modules.

        ``mode="reduce-overhead"`` (CUDA) replays CUDA graphs, one per shape met, so it turns on
        :attr:`pad_edges`, copies the outputs out and computes the parameter products inside the
        graph (:meth:`StackOwner.compile_message_passing`); no-grad calls then stay out of
        inference mode (which the graphs were not measured with)."""
        compile_message_passing(self, mode=mode)
        return self

    @property
    def pad_edges(self) -> bool:
        """Whether the edge lists are padded to a few fixed sizes (the ``pad_edges`` argument)."""
        return self.ligand.pad_edges and self.complex.pad_edges

    @pad_edges.setter
    def pad_edges(self, value: bool) -> None:
        self.ligand.pad_edges = self.complex.pad_edges = bool(value)

    @property
    def pair_skin(self) -> float:
        """The Verlet lists' skin in Å (the ``pair_skin`` argument; 0: a search per call)."""
        return self.complex.pair_skin

    @property
    def edge_dtype(self) -> Optional[torch.dtype]:
        """The dtype of the interaction layers' edge products (the ``edge_dtype`` argument), or None."""
        return self.ligand.edge_dtype

    @edge_dtype.setter
    def edge_dtype(self, value: Optional[str | torch.dtype]) -> None:
        dtype = EDGE_DTYPES.get(value, value) if isinstance(value, str) else value
        if dtype is not None and dtype not in EDGE_DTYPES.values():
            raise ValueError(f"edge_dtype must be None or one of {sorted(EDGE_DTYPES)}, got {value!r}")
        self.ligand.edge_dtype = self.complex.edge_dtype = dtype

    def encode_protein(self, data: Any) -> ProteinEncoding:
        """Residue features, C-alphas and residue frames of every protein in ``data``."""
        res = data["residue"]
        self._check_matches_parameters(data, res.backbone, "residue.backbone")
        try:
            return self.protein.encode(res.type, res.backbone, res.chain, node_batch(data, "residue", "type"),
                                       lazy=True)
        except ValueError as err:
            raise ValueError(f"{complex_name(data)}: {err}") from None

    def _check_matches_parameters(self, data: Any, tensor: Tensor, what: str) -> None:
        """One clear error, instead of a matmul's, when the data's dtype or device is not the model's."""
        param = next(self.parameters())
        if tensor.dtype != param.dtype or tensor.device != param.device:
            raise ValueError(f"{complex_name(data)}: {what} is {tensor.dtype} on {tensor.device} but the model is "
                             f"{param.dtype} on {param.device}; convert one of them, e.g. model.to(torch.float64) "
                             "or data.to(device)")

    def _run(self, data: Any, ligand_pos: Tensor, protein: Optional[ProteinEncoding]) -> tuple[Tensor, Tensor, Tensor]:
        lig = data["ligand"]
        self._check_matches_parameters(data, ligand_pos, "ligand_pos")
        batch = node_batch(data, "ligand", "z")
        if protein is None:
            protein = self.encode_protein(data)
        elif protein.ca.shape[0] != data["residue"].type.shape[0]:
            raise ValueError(
                f"{complex_name(data)}: the cached protein encoding has {protein.ca.shape[0]} residues, "
                f"the data {data['residue'].type.shape[0]}: encode this data's protein"
            )
        if protein.ca.dtype != ligand_pos.dtype or protein.ca.device != ligand_pos.device:
            raise ValueError(
                f"{complex_name(data)}: protein encoding is {protein.ca.dtype} on {protein.ca.device} but "
                f"ligand_pos is {ligand_pos.dtype} on {ligand_pos.device}; use protein.to(...)"
            )
        try:
            h, vec = self.ligand(lig.z, ligand_pos, batch, graph=self._ligand_graph(protein))
        except ValueError as err:
            raise ValueError(f"{complex_name(data)}: {err}") from None
        h, vec = self.complex.interact(h, vec, ligand_pos, batch, protein, positions_checked=True)
        return h, vec, batch

    def _ligand_graph(self, protein: ProteinEncoding) -> Optional[GraphList]:
        """The rollout's Verlet list of the ligand's own graph, kept on its protein encoding as the
        pocket pairs are (None without a ``pair_skin``: a search per call)."""
        skin = self.pair_skin
        if not skin:
            return None
        cutoff = self.ligand.cutoff
        return protein.verlet_list(("ligand", cutoff, skin), lambda: GraphList(cutoff, skin=skin))

    def forward(self, data: Any, ligand_pos: Tensor, protein: Optional[ProteinEncoding] = None) -> Tensor:
        """Forces (N_l, 3) on the ligand atoms at positions ``ligand_pos`` (N_l, 3) Å.

        ``protein`` is a cached :meth:`encode_protein` result (computed here when ``None``). The
        output rotates with the complex, ignores translations and sees chirality.
        """
        cuda_graphs = self.ligand.cuda_graphs or self.complex.cuda_graphs
        if torch.is_grad_enabled() or torch.is_inference_mode_enabled() or cuda_graphs:
            return self._run(data, ligand_pos, protein)[1]
        # No gradients wanted (a rollout): inference mode skips autograd's bookkeeping of every
        # tensor operation, ~15 % of an evaluation of one ligand; the forces are copied out of it,
        # so that the caller gets an ordinary tensor it may modify or use under autograd.
        with torch.inference_mode():
            forces = self._run(data, ligand_pos, protein)[1]
        return forces.clone()

    def energy(self, data: Any, ligand_pos: Tensor, protein: Optional[ProteinEncoding] = None) -> Tensor:
        """Invariant energy (B,) per complex: the sum of a per-atom head on the final invariant
        features; ``-autograd.grad(energy.sum(), ligand_pos)`` gives equivariant forces."""
        h, _, batch = self._run(data, ligand_pos, protein)
        num = int(data.num_graphs) if isinstance(data, Batch) else 1
        return scatter(self.energy_head(h).squeeze(-1), batch, dim=0, dim_size=num, reduce="sum")

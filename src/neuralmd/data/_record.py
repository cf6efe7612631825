"""Building trajectory records (one ``HeteroData`` per protein-ligand trajectory) and storing them.

The format itself (keys, vocabularies, limits, :func:`validate_record`) is ``neuralmd._format``'s;
it is re-exported here for the readers and importers of this subpackage.
"""
from __future__ import annotations

import torch
from torch_geometric.data import HeteroData

from .._format import MAX_DT_PS, MAX_JUMP, POCKET_CUTOFF, validate_record
from ._tables import atomic_masses

__all__ = ["make_record", "record_to_plain", "record_from_plain", "validate_record", "POCKET_CUTOFF", "MAX_JUMP",
           "MAX_DT_PS"]

def make_record(
    id: str,
    ligand_z: torch.Tensor,
    ligand_pos: torch.Tensor,
    residue_type: torch.Tensor,
    backbone: torch.Tensor,
    chain: torch.Tensor,
    *,
    dt_ps: float,
) -> HeteroData:
    """Assemble one trajectory record; masses come from the project's periodic table.

    Args:
        ligand_z: (N_l,) atomic numbers. ligand_pos: (N_l, T, 3) Å.
        residue_type: (N_r,) codes (``RESIDUE_NAMES``). backbone: (N_r, 3, 3) Å, rows N, CA, C.
        chain: (N_r,) chain index. dt_ps: picoseconds between snapshots.
    """
    data = HeteroData()
    data.id = str(id)
    try:
        data.dt_ps = float(dt_ps.decode() if isinstance(dt_ps, bytes) else dt_ps)
    except (TypeError, ValueError):
        raise ValueError(f"complex {id}: dt_ps must be a number of picoseconds, got {dt_ps!r}") from None
    z = torch.as_tensor(ligand_z, dtype=torch.long)
    data["ligand"].z = z
    try:
        data["ligand"].mass = atomic_masses(z) if z.numel() else torch.zeros(0)
    except ValueError as err:
        raise ValueError(f"complex {id}: ligand {err}") from None
    data["ligand"].pos = torch.as_tensor(ligand_pos, dtype=torch.float32)
    data["residue"].type = torch.as_tensor(residue_type, dtype=torch.long)
    data["residue"].backbone = torch.as_tensor(backbone, dtype=torch.float32)
    data["residue"].chain = torch.as_tensor(chain, dtype=torch.long)
    # explicit node counts: PyG cannot infer them from (N, T, 3) or (N, 3, 3) fields when batching
    data["ligand"].num_nodes = z.numel()
    data["residue"].num_nodes = data["residue"].type.numel()
    return data


def record_to_plain(data: HeteroData) -> dict:
    """The record as a dict of tensors, strings and floats, which ``torch.load(weights_only=True)``
    reads without trusting the file (``HeteroData`` itself needs unpickling arbitrary classes)."""
    return {"id": str(data.id), "dt_ps": float(data.dt_ps), "z": data["ligand"].z.cpu(),
            "pos": data["ligand"].pos.cpu(), "type": data["residue"].type.cpu(),
            "backbone": data["residue"].backbone.cpu(), "chain": data["residue"].chain.cpu()}


def record_from_plain(plain: dict) -> HeteroData:
    """The record :func:`record_to_plain` stored."""
    return make_record(plain["id"], plain["z"], plain["pos"], plain["type"], plain["backbone"], plain["chain"],
                       dt_ps=plain["dt_ps"])

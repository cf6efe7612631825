"""The trajectory record (one ``HeteroData`` per protein-ligand trajectory) and its checks."""
from __future__ import annotations

import math

import torch
from torch_geometric.data import HeteroData

from ._tables import NUM_RESIDUE_TYPES, atomic_masses

#: A ligand whose atoms are all farther than this from every C-alpha in the first snapshot has left
#: the pocket. C-alpha sit 2-5 Å behind the side-chain atoms that touch a bound ligand, so a tighter
#: cutoff would reject real complexes; ligands that flew away (MISATO's 2BMV, 3LK1) are > 15 Å out.
POCKET_CUTOFF = 10.0
#: Largest believable displacement (Å) of a ligand atom between two consecutive snapshots. MISATO's
#: 80 ps snapshots move atoms by a few Å; a jump of tens of Å is a periodic-image wrap or a
#: corrupted frame, and would teach the model teleportation.
MAX_JUMP = 20.0
#: Largest believable time between snapshots (ps): 100 ns. Larger values come from time stamps in
#: other units (an XTC written with frame numbers or fs as "time", e.g. 6,000,000 ps).
MAX_DT_PS = 1.0e5


def make_record(
    id: str,
    ligand_z: torch.Tensor,
    ligand_pos: torch.Tensor,
    residue_type: torch.Tensor,
    backbone: torch.Tensor,
    chain: torch.Tensor,
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
                       plain["dt_ps"])


def _problem(data: HeteroData, pocket_cutoff: float | None) -> str | None:
    """The first thing wrong with ``data``, in words, or None."""
    try:
        z, pos = data["ligand"].z, data["ligand"].pos
        rtype, bb, chain = data["residue"].type, data["residue"].backbone, data["residue"].chain
        mass = data["ligand"].mass
    except (AttributeError, KeyError) as err:
        return f"missing field ({err})"
    if z.dim() != 1 or z.numel() == 0:
        return f"empty ligand (ligand.z has shape {tuple(z.shape)})"
    n_l = z.numel()
    if pos.dim() != 3 or pos.shape[0] != n_l or pos.shape[2] != 3 or pos.shape[1] == 0:
        return f"ligand.pos has shape {tuple(pos.shape)}, expected ({n_l}, T>=1, 3)"
    if mass.shape != (n_l,):
        return f"ligand.mass has shape {tuple(mass.shape)}, expected ({n_l},)"
    if int(z.min()) < 1:
        return f"ligand.z holds atomic number {int(z.min())} < 1"
    n_r = rtype.numel()
    if n_r == 0:
        return "no protein residues with a backbone"
    if rtype.shape != (n_r,) or bb.shape != (n_r, 3, 3) or chain.shape != (n_r,):
        return (f"residue shapes type {tuple(rtype.shape)}, backbone {tuple(bb.shape)}, "
                f"chain {tuple(chain.shape)}, expected ({n_r},), ({n_r}, 3, 3), ({n_r},)")
    if int(rtype.min()) < 0 or int(rtype.max()) >= NUM_RESIDUE_TYPES:
        return f"residue.type outside 0..{NUM_RESIDUE_TYPES - 1}"
    if not torch.isfinite(pos).all():
        t = int((~torch.isfinite(pos)).any(-1).any(0).nonzero()[0])
        return f"NaN/inf ligand coordinates (first at snapshot {t})"
    if not torch.isfinite(bb).all():
        return "NaN/inf protein backbone coordinates"
    dt = getattr(data, "dt_ps", None)
    if isinstance(dt, bool) or not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        return f"dt_ps must be a positive number of picoseconds, got {dt!r}"
    if dt > MAX_DT_PS:
        return (f"dt_ps={dt:g} ps between snapshots is implausible (more than {MAX_DT_PS:g} ps); the "
                "trajectory's time stamps are probably not in ps: give the interval yourself (dt_ps=..., "
                "data.dt_ps=... with data=mdanalysis)")
    if pos.shape[1] > 1:
        step = (pos[:, 1:] - pos[:, :-1]).norm(dim=-1)          # (N_l, T - 1)
        if float(step.max()) > MAX_JUMP:
            atom, t = divmod(int(step.argmax()), step.shape[1])
            return (f"ligand atom {atom} jumps {float(step.max()):.1f} Å between snapshots {t} and {t + 1} "
                    f"(more than {MAX_JUMP:g} Å): a periodic-image wrap or a broken frame; make the molecule "
                    "whole / unwrap the trajectory first")
    if pocket_cutoff is not None:
        nearest = torch.cdist(pos[:, 0].double(), bb[:, 1].double()).min()
        if nearest > pocket_cutoff:
            return (f"ligand has left the pocket: nearest C-alpha is {float(nearest):.1f} Å away in the "
                    f"first snapshot (cutoff {pocket_cutoff} Å)")
    return None


def validate_record(data: HeteroData, pocket_cutoff: float | None = POCKET_CUTOFF) -> HeteroData:
    """Check a trajectory record; raise one ``ValueError`` naming the complex and the problem.

    Checks: non-empty ligand with atomic numbers, mass and positions of shape (N_l,), (N_l,),
    (N_l, T, 3); at least one residue with consistent (N_r,), (N_r, 3, 3), (N_r,) fields; finite
    coordinates; positive ``dt_ps`` of at most ``MAX_DT_PS``; no ligand atom moving more than
    ``MAX_JUMP`` Å between consecutive snapshots; some C-alpha within ``pocket_cutoff`` Å of a ligand atom in the
    first snapshot (``None`` skips that check). Returns ``data`` so calls can be chained.
    """
    problem = _problem(data, pocket_cutoff)
    if problem is not None:
        raise ValueError(f"complex {getattr(data, 'id', '<no id>')!s}: {problem}")
    return data

"""``from_mdanalysis``: any trajectory MDAnalysis reads (GROMACS, Amber, CHARMM, OpenMM, ...)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import HeteroData

from ._record import POCKET_CUTOFF, make_record, validate_record
from ._tables import element_number, residue_code


def kabsch(mobile: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R (3, 3) and translation t (3,) with ``mobile @ R.T + t`` best fitting ``target`` (both (N, 3))."""
    mc, tc = mobile.mean(0), target.mean(0)
    h = (mobile - mc).T @ (target - tc)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(vt.T @ u.T))  # a proper rotation, never a reflection
    r = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return r, tc - mc @ r.T


def _atomic_numbers(atoms, name: str) -> np.ndarray:
    """Atomic numbers from the topology's elements, else from the atom names (first letters)."""
    try:
        symbols = [str(e) for e in atoms.elements]
    except Exception:  # MDAnalysis raises NoDataError when the topology has no elements
        symbols = [""] * len(atoms)
    z = []
    for sym, atom_name in zip(symbols, atoms.names):
        n = element_number(sym) if sym.strip() else 0
        if n == 0:  # guess: two-letter halogens first ('CL1' is chlorine), then the first letter
            letters = "".join(ch for ch in atom_name if ch.isalpha())
            n = element_number(letters[:2]) if letters[:2].upper() in ("CL", "BR") else element_number(letters[:1])
        if n == 0:
            raise ValueError(f"complex {name}: cannot tell the element of ligand atom {atom_name!r}")
        z.append(n)
    return np.asarray(z, dtype=np.int64)


def from_mdanalysis(
    topology,
    trajectory=None,
    *,
    ligand: str | None = "resname LIG",
    protein: str | None = "protein",
    hydrogens: bool = False,
    id: str | None = None,
    step: int = 1,
    pocket_cutoff: float | None = POCKET_CUTOFF,
    dt_ps: float | None = None,
) -> HeteroData:
    """Turn an MD trajectory into a trajectory record (the semi-flexible setting).

    Every snapshot is superimposed on the first one by the protein's N, CA, C atoms (Kabsch), so
    the protein is rigid at its first-snapshot pose and the ligand moves in its frame. Residues
    without all of N, CA, C are left out; residue names of any force field (HIS/HID/HIE/HIP/HSD/
    HSE/HSP, CYX, ASH, NALA, ...) map to ``residue.type`` by ``residue_code``; chains follow the
    segment and chain ids; ``dt_ps`` is the trajectory's time step (MDAnalysis reports ps) times
    ``step``, unless given.

    Args:
        topology: anything ``MDAnalysis.Universe`` takes (PDB, PSF, PRMTOP, GRO, TPR, ...), or a
            ``Universe``. trajectory: coordinate file(s) (DCD, XTC, NetCDF, ...), or None.
        ligand, protein: MDAnalysis selection strings (None: the defaults shown).
        hydrogens: keep ligand hydrogens. id: the record's id (default: the topology's file stem).
        step: keep every ``step``-th snapshot. pocket_cutoff: see ``validate_record``.
        dt_ps: picoseconds between the kept snapshots, for files whose time stamps are missing or
            not in ps (an XTC written with frame numbers as times, say); None: from the file.

    Returns:
        ``HeteroData`` record; ``ligand.pos`` (N_l, T, 3) Å.
    """
    import MDAnalysis as mda

    ligand = "resname LIG" if ligand is None else ligand
    protein = "protein" if protein is None else protein
    u = topology if isinstance(topology, mda.Universe) else (
        mda.Universe(topology) if trajectory is None else mda.Universe(topology, trajectory))
    name = id or (Path(str(topology)).stem if isinstance(topology, (str, os.PathLike)) else "mdanalysis")
    lig = u.select_atoms(ligand)
    if not hydrogens and len(lig):
        lig = lig[_atomic_numbers(lig, name) != 1]
    if len(lig) == 0:
        raise ValueError(f"complex {name}: ligand selection {ligand!r} matched no (heavy) atoms")
    prot = u.select_atoms(protein)
    backbone_idx, types, chains, chain_ids = [], [], [], {}
    has_chain_ids = hasattr(u.atoms, "chainIDs")
    for res in prot.residues:
        atoms = res.atoms & prot
        picked = [atoms.select_atoms(f"name {n}") for n in ("N", "CA", "C")]
        if any(len(p) != 1 for p in picked):
            continue
        backbone_idx.append([p[0].index for p in picked])
        types.append(residue_code(res.resname))
        chain_key = (res.segment.segid, res.atoms.chainIDs[0] if has_chain_ids else "")
        chains.append(chain_ids.setdefault(chain_key, len(chain_ids)))
    if not backbone_idx:
        raise ValueError(f"complex {name}: protein selection {protein!r} has no residue with N, CA and C atoms")
    bb_idx = np.asarray(backbone_idx).ravel()
    ref, lig_pos = None, []
    for ts in u.trajectory[::step]:
        bb = u.atoms.positions[bb_idx].astype(np.float64)
        if ref is None:
            ref = bb
        r, t = kabsch(bb, ref)
        lig_pos.append(lig.positions.astype(np.float64) @ r.T + t)
    pos = torch.as_tensor(np.stack(lig_pos, axis=1), dtype=torch.float32)
    dt_ps = float(u.trajectory.dt) * step if dt_ps is None else dt_ps
    record = make_record(name, _atomic_numbers(lig, name), pos, torch.as_tensor(types),
                         torch.as_tensor(ref.reshape(-1, 3, 3)), torch.as_tensor(chains), dt_ps=dt_ps)
    return validate_record(record, pocket_cutoff)
